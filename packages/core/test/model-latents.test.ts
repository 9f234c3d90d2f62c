import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Autoencoder,
  ChannelMoments,
  computeLatentNormalization,
  createRng,
  DiagonalGaussian,
  fitLatentNormalization,
  reconstruct,
  setupBackend,
} from '../src/index.node.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

/** 2x2 average pooling in, nearest upsampling out: a deterministic autoencoder of 3 channels. */
function poolAE(): Autoencoder {
  return {
    name: 'pool',
    latentNormalization: null,
    encode: (x) => DiagonalGaussian.deterministic(tf.avgPool(x, 2, 2, 'valid')),
    decode: (z) => tf.image.resizeNearestNeighbor(z, [z.shape[1] * 2, z.shape[2] * 2]),
    latentShape: ([h, w, c]) => [h / 2, w / 2, c],
    dispose() {},
  };
}

describe('latent normalisation', () => {
  it('streams batch by batch to the statistics of all latents at once', async () => {
    const rng = createRng(3);
    const all = tf.add(tf.mul(rng.normal([6, 4, 4, 3]), 2), 1) as tf.Tensor4D;
    const want = computeLatentNormalization(all);
    const m = new ChannelMoments(3);
    for (const part of tf.split(all, [1, 2, 3])) m.add(part.dataSync());
    const got = m.normalization();
    got.shift.forEach((v, i) => {
      expect(v).toBeCloseTo(want.shift[i], 12);
    });
    got.scale.forEach((v, i) => {
      expect(v).toBeCloseTo(want.scale[i], 12);
    });
    expect(m.count).toBe(6 * 16);
  });

  it('fits an autoencoder up to maxLatents, and a constant channel is an error unless floored', async () => {
    const ae = poolAE();
    const images = [createRng(1).uniform([3, 4, 4, 3], -1, 1), createRng(2).uniform([3, 4, 4, 3], -1, 1)];
    const norm = await fitLatentNormalization(ae, images, { rng: createRng(0), maxLatents: 4 });
    expect(ae.latentNormalization).toEqual(norm);
    expect(images.every((t) => t.isDisposed)).toBe(true);
    const flat = new ChannelMoments(2);
    flat.add([1, 5, 1, 7]);
    expect(() => flat.normalization()).toThrow(/channel 0 has zero or NaN variance/);
    expect(flat.normalization(1e-12).scale[0]).toBeCloseTo(1e6, 3);
  });
});

describe('reconstruct', () => {
  it('decodes the posterior mean and releases the posterior', () => {
    const ae = poolAE();
    const x = createRng(4).uniform([2, 4, 4, 3], -1, 1) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const r = reconstruct(ae, x);
    expect(tf.memory().numTensors).toBe(before + 1);
    const want = tf.tidy(() => ae.decode(tf.avgPool(x, 2, 2, 'valid')));
    expect(Array.from(r.dataSync())).toEqual(Array.from(want.dataSync()));
  });
});
