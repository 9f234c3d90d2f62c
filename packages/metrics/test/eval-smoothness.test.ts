import { createRng, type Progress, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  evaluateReconstruction,
  imageBatch,
  l1,
  latentSmoothness,
  mse,
  SMOOTHNESS_EPS,
} from '../src/index.js';
import { fakeExtractor, fakeLpips, PoolAutoencoder, values } from './eval-helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const N = 5;
const S = 8;
const SHAPE = [N, S, S, 3] as [number, number, number, number];
const data = values(N * S * S * 3, 13);

/** Posterior means of PoolAutoencoder in JavaScript: [N, S/2, S/2, 3]. */
function latents(x: Float32Array): Float32Array {
  const h = S / 2;
  const z = new Float32Array(N * h * h * 3);
  for (let i = 0; i < N; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < h; xx++)
        for (let c = 0; c < 3; c++) {
          const at = (dy: number, dx: number) => ((i * S + 2 * y + dy) * S + 2 * xx + dx) * 3 + c;
          z[((i * h + y) * h + xx) * 3 + c] = (x[at(0, 0)] + x[at(0, 1)] + x[at(1, 0)] + x[at(1, 1)]) / 4;
        }
  return z;
}

function channelStd(z: Float32Array): number[] {
  return [0, 1, 2].map((c) => {
    const v = z.filter((_, i) => i % 3 === c);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
  });
}

/** Decode by hand (nearest 2x upsampling) and clamp. */
function decode(z: Float32Array, n: number): Float32Array {
  const h = S / 2;
  const y = new Float32Array(n * S * S * 3);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < S; r++)
      for (let c = 0; c < S; c++)
        for (let ch = 0; ch < 3; ch++)
          y[((i * S + r) * S + c) * 3 + ch] = Math.max(
            -1,
            Math.min(1, z[((i * h + (r >> 1)) * h + (c >> 1)) * 3 + ch]),
          );
  return y;
}

describe('latentSmoothness', () => {
  it('perturbs z by eps * std_c * n with std_c from the data and n drawn once per batch, and measures like evaluateReconstruction', async () => {
    const x = tf.tensor4d(data, SHAPE);
    const eps = [0, 0.1, 0.3];
    const seed = 7;
    const events: Progress[] = [];
    const before = tf.memory().numTensors;
    const r = await latentSmoothness(new PoolAutoencoder(), x, {
      extractor: fakeExtractor(),
      lpips: fakeLpips,
      eps,
      seed,
      batchSize: 3,
      onProgress: (p) => events.push(p),
    });
    expect(tf.memory().numTensors).toBe(before);
    const z = latents(data);
    const std = channelStd(z);
    r.channelStd.forEach((v, i) => {
      expect(v).toBeCloseTo(std[i], 6);
    });
    // Replay the noise: one normal draw per batch (3, then 2 images), in batch order.
    const rng = createRng(seed);
    const per = (S / 2) * (S / 2) * 3;
    const noise = new Float32Array(z.length);
    noise.set(Float32Array.from(rng.normalArray(3 * per)), 0);
    noise.set(Float32Array.from(rng.normalArray(2 * per)), 3 * per);
    const a = imageBatch(data, SHAPE);
    eps.forEach((e, k) => {
      const zp = z.map((v, i) => v + e * std[i % 3] * noise[i]);
      const b = imageBatch(decode(zp, N), SHAPE);
      expect(r.points[k].eps).toBe(e);
      expect(r.points[k].mse).toBeCloseTo(mse(a, b), 5);
      expect(r.points[k].l1).toBeCloseTo(l1(a, b), 5);
      expect(r.points[k].lpips).toBeCloseTo(l1(a, b), 5);
    });
    expect(r.points[2].mse).toBeGreaterThan(r.points[1].mse);
    expect(r.points[1].mse).toBeGreaterThan(r.points[0].mse);
    // eps = 0 is the plain reconstruction.
    const plain = await evaluateReconstruction(new PoolAutoencoder(), x, {
      extractor: fakeExtractor(),
      batchSize: 3,
    });
    for (const key of ['rfid', 'psnr', 'ssim', 'l1', 'mse'] as const)
      expect(r.points[0][key]).toBeCloseTo(plain[key] as number, 6);
    expect(events.map((e) => e.phase)).toEqual([
      'latent-std',
      'latent-std',
      'latent-smoothness',
      'latent-smoothness',
    ]);
    expect(r.extractor).toBe('fake-extractor');
    x.dispose();
  });

  it("uses the paper's eps by default, std_c from latentNormalization or given, and one pass over a stream", async () => {
    expect(SMOOTHNESS_EPS).toEqual([0, 0.01, 0.05, 0.1, 0.2, 0.3]);
    const ae = new PoolAutoencoder();
    ae.latentNormalization = { shift: [0, 0, 0], scale: [2, 4, 5] };
    const x = tf.tensor4d(data, SHAPE);
    const a = await latentSmoothness(ae, x, { extractor: null, channelStd: 'normalization' });
    expect(a.points.map((p) => p.eps)).toEqual(SMOOTHNESS_EPS);
    expect(a.channelStd).toEqual([0.5, 0.25, 0.2]);
    function* stream() {
      yield tf.tensor4d(data.subarray(0, 3 * S * S * 3), [3, S, S, 3]);
      yield tf.tensor4d(data.subarray(3 * S * S * 3), [2, S, S, 3]);
    }
    const b = await latentSmoothness(ae, stream(), {
      extractor: null,
      channelStd: [0.5, 0.25, 0.2],
      batchSize: 3,
    });
    b.points.forEach((p, k) => {
      expect(p.mse).toBeCloseTo(a.points[k].mse, 6);
    });
    // One batch x 6 eps, then two batches x 6 eps: every batch is encoded once and decoded once per eps.
    expect(ae.decodeCalls).toBe(6 + 2 * 6);
    x.dispose();
  });

  it('rejects bad input before any work', async () => {
    const ae = new PoolAutoencoder();
    const x = tf.tensor4d(data, SHAPE);
    function* once() {
      yield tf.tensor4d(data, SHAPE);
    }
    await expect(latentSmoothness(ae, once(), { extractor: null })).rejects.toThrow(/reads data twice/);
    await expect(latentSmoothness(ae, x, { extractor: null, channelStd: 'normalization' })).rejects.toThrow(
      /no latentNormalization/,
    );
    await expect(latentSmoothness(ae, x, { extractor: null, eps: [] })).rejects.toThrow(/opts.eps/);
    await expect(latentSmoothness(ae, x, { extractor: null, eps: [0, -0.1] })).rejects.toThrow(/opts.eps/);
    await expect(
      latentSmoothness(ae, x, { extractor: null, channelStd: [1, Number.NaN, 1] }),
    ).rejects.toThrow(/channelStd/);
    expect(ae.decodeCalls).toBe(0);
    await expect(latentSmoothness(ae, x, { extractor: null, channelStd: [1, 1] })).rejects.toThrow(
      /3 channels but channelStd has 2/,
    );
    x.dispose();
  });
});
