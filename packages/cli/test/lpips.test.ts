/** The CLI's LPIPS is @ldmae/losses' offline LPIPS, which upsamples 28 px digits itself. */
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { loadOfflineLpips } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLpips } from '../src/steps/evaluate.js';
import { run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('LPIPS of small images', () => {
  it('28 px: the library upsamples to 64 px, the same numbers as upsampling by hand; the name says so', async () => {
    const before = tf.memory().numTensors;
    const lpips = await loadLpips(28);
    expect(lpips.trunkName).toBe('nsfwjs-inceptionv3-early (inputs bilinearly upsampled 28 -> 64 px)');
    const strict = await loadOfflineLpips({ resize: 'none' });
    const x = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const got = lpips.forward(x, y);
    const want = tf.tidy(() =>
      strict.forward(tf.image.resizeBilinear(x, [64, 64]), tf.image.resizeBilinear(y, [64, 64])),
    );
    const g = got.dataSync();
    g.forEach((v, i) => {
      expect(Number.isFinite(v)).toBe(true);
      expect(Math.abs(v - want.dataSync()[i])).toBeLessThan(1e-6);
    });
    tf.dispose([x, y, got, want]);
    lpips.dispose();
    strict.dispose();
    const big = await loadLpips(64);
    expect(big.trunkName).toBe('nsfwjs-inceptionv3-early');
    big.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('train-ae --model sd-vae --lpips-weight trains on 28 px digits', async () => {
    const out = join(tempDir(), 'sd');
    const r = await run([
      'train-ae',
      '--model',
      'sd-vae',
      '--preset',
      'f4d4-micro',
      '--lpips-weight',
      '0.5',
      '--steps',
      '1',
      '--batch-size',
      '2',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("trained sd-vae 'f4d4-micro' for 1 steps");
  }, 120_000);
});
