/**
 * Every autoencoder `ldmae train-ae` trains (VMAE, AE, DAE, VAE, SD-VAE) loads through @ldmae/core's
 * `loadAutoencoder` from its saved model and from its training checkpoint, and encodes an image to the
 * latents `ldmae encode` wrote into its cache (the CLI's own result, float for float).
 */
import { join } from 'node:path';
import { loadAutoencoder, setupBackend } from '@ldmae/core';
import { openLatentCache, readImage } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { pngFolder, run, tempDir } from './helpers.js';

const KINDS = ['vmae', 'ae', 'dae', 'vae', 'sd-vae'] as const;
const FORMAT = {
  vmae: 'ldmae-vmae',
  ae: 'ldmae-baseline',
  dae: 'ldmae-baseline',
  vae: 'ldmae-baseline',
  'sd-vae': 'ldmae-baseline',
};
let dir: string;
let image: tf.Tensor4D;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tempDir();
  const folder = await pngFolder(dir, 8, 7, 31);
  const img = await readImage(join(folder, 'img-0.png'));
  image = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(img.data), [1, 16, 16, 3]), 127.5), 1));
  for (const kind of KINDS) {
    const out = join(dir, kind);
    const common = ['--data', folder, '--split', 'all'];
    const train = await run([
      'train-ae',
      '--model',
      kind,
      ...common,
      '--steps',
      '2',
      '--batch-size',
      '4',
      '--out',
      out,
    ]);
    expect(train.code, `train-ae ${kind}: ${train.stderr}`).toBe(0);
    const ae = join(out, 'autoencoder.safetensors');
    const enc = await run(['encode', '--ae', ae, ...common, '--n', '1', '--out', join(out, 'lat')]);
    expect(enc.code, `encode ${kind}: ${enc.stderr}`).toBe(0);
  }
}, 600_000);

describe('loadAutoencoder reads what train-ae writes', () => {
  for (const kind of KINDS) {
    it(`${kind}: saved model and training checkpoint, latents equal to the CLI's cache`, async () => {
      const before = tf.memory().numTensors;
      const cache = await openLatentCache(join(dir, kind, 'lat'));
      const item = await cache.read(0, false);
      await cache.close();
      for (const path of [join(dir, kind, 'autoencoder.safetensors'), join(dir, kind, 'checkpoint')]) {
        const { model, format, step } = await loadAutoencoder(path, { inputRange: 'clamp' });
        expect(format).toBe(FORMAT[kind]);
        expect(model.name).toBe(kind);
        if (path.endsWith('checkpoint')) expect(step).toBe(2);
        const dist = model.encode(image);
        const mean = await dist.mean.data();
        expect(mean.length).toBe(item.mean.length);
        let worst = 0;
        for (let i = 0; i < mean.length; i++) worst = Math.max(worst, Math.abs(mean[i] - item.mean[i]));
        expect(worst, `${kind} ${path}`).toBeLessThan(1e-5);
        dist.dispose();
        model.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
