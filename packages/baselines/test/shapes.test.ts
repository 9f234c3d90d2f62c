import { createRng, LOGVAR_MIN, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionBlock } from '../src/attention-block.js';
import { type AutoencoderKL, BASELINE_KINDS, BASELINE_POSTERIOR, createBaseline } from '../src/index.js';
import { upsampleNearest2x } from '../src/resample.js';
import { ResnetBlock2D } from '../src/resnet-block.js';

const models = new Map<string, AutoencoderKL>();

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  for (const kind of BASELINE_KINDS)
    models.set(kind, createBaseline(kind, { preset: 'f4d4-micro', seed: 7 }));
});

afterAll(() => {
  for (const m of models.values()) m.dispose();
});

const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);

describe.each(BASELINE_KINDS)('%s', (kind) => {
  it('encodes [B, 28, 28, 3] to a posterior over [B, 7, 7, 4] and decodes back to [B, 28, 28, 3]', () => {
    const ae = models.get(kind)!;
    const x = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(ae.latentShape([28, 28, 3])).toEqual([7, 7, 4]);
    const post = ae.encode(x);
    expect(post.mean.shape).toEqual([2, 7, 7, 4]);
    expect(post.logvar.shape).toEqual([2, 7, 7, 4]);
    const z = post.sample(createRng(1));
    const gap = tf.sub(z, post.mean);
    if (BASELINE_POSTERIOR[kind] === 'deterministic') {
      const lv = post.logvar.dataSync();
      expect(lv.every((v) => v === LOGVAR_MIN)).toBe(true);
      // std = exp(-15) ~ 3e-7: a sample is the mean.
      expect(maxAbs(gap)).toBeLessThan(1e-5);
    } else {
      expect(new Set(post.logvar.dataSync()).size).toBeGreaterThan(1);
      expect(maxAbs(gap)).toBeGreaterThan(0.1);
    }
    const y = ae.decode(z as tf.Tensor4D);
    expect(y.shape).toEqual([2, 28, 28, 3]);
    expect(Number.isFinite(tf.tidy(() => tf.sum(y).dataSync()[0]))).toBe(true);
    const r = ae.reconstruct(x);
    expect(r.shape).toEqual([2, 28, 28, 3]);
    tf.dispose([z, gap, y, r]);
    post.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('f8 and 32 px', () => {
  it('f8d4-tiny maps [1, 32, 32, 3] to [1, 4, 4, 4] latents', () => {
    const ae = createBaseline('vae', { preset: 'f8d4-tiny' });
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const post = ae.encode(x);
    expect(post.mean.shape).toEqual([1, 4, 4, 4]);
    const y = ae.decode(post.mean as tf.Tensor4D);
    expect(y.shape).toEqual([1, 32, 32, 3]);
    tf.dispose([x, y]);
    post.dispose();
    ae.dispose();
  });
});

describe('bad input', () => {
  it('is refused before any work, naming the argument', () => {
    const ae = models.get('vae')!;
    const before = tf.memory().numTensors;
    const img = (shape: number[], dtype: 'float32' | 'int32' = 'float32') =>
      tf.zeros(shape as [number, number, number, number], dtype) as tf.Tensor4D;
    const cases: [tf.Tensor4D, RegExp][] = [
      [img([1, 28, 28, 1]), /x must have 3 channels, got 1/],
      [img([1, 30, 30, 3]), /multiples of 4.*30x30/],
      [img([1, 28, 28, 3], 'int32'), /float32/],
      [tf.zeros([28, 28, 3]) as unknown as tf.Tensor4D, /\[B, H, W, 3\]/],
    ];
    for (const [x, re] of cases) {
      expect(() => ae.encode(x)).toThrow(re);
      x.dispose();
    }
    const z = img([1, 7, 7, 3]);
    expect(() => ae.decode(z)).toThrow(/z must be \[B, h, w, 4\] latents/);
    z.dispose();
    expect(() => ae.latentShape([28, 26, 3])).toThrow(/multiples of 4/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('building blocks', () => {
  it('upsampleNearest2x is nearest-neighbour x2, its gradient sums each 2x2 block', () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i),
      [2, 3, 2, 2],
    );
    const y = upsampleNearest2x(x);
    const want = tf.image.resizeNearestNeighbor(x, [6, 4]);
    expect(y.shape).toEqual([2, 6, 4, 2]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(want.dataSync()));
    const dy = tf.randomNormal([2, 6, 4, 2], 0, 1, 'float32', 2);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(t as tf.Tensor4D), dy)))(x);
    const blockSums = tf.mul(tf.avgPool(dy as tf.Tensor4D, 2, 2, 'valid'), 4);
    expect(maxAbs(tf.sub(g, blockSums))).toBeLessThan(1e-5);
    tf.dispose([x, y, want, dy, g, blockSums]);
  });

  it('a ResnetBlock2D + AttentionBlock pass matches finite differences of its input', () => {
    const rng = createRng(9);
    const res = new ResnetBlock2D(4, 8, { rng, groups: 2 });
    const attn = new AttentionBlock(8, { rng, groups: 2 });
    expect(res.convShortcut).not.toBeNull();
    const f = (t: tf.Tensor) => tf.sum(tf.square(attn.forward(res.forward(t as tf.Tensor4D))));
    const x = tf.randomNormal([1, 3, 3, 4], 0, 1, 'float32', 5);
    const g = tf.grad(f)(x).dataSync();
    const xs = x.dataSync();
    const h = 1e-2;
    for (const i of [0, 7, 20, 35]) {
      const plus = Float32Array.from(xs);
      const minus = Float32Array.from(xs);
      plus[i] += h;
      minus[i] -= h;
      const fd = tf.tidy(
        () =>
          (f(tf.tensor(plus, x.shape)).dataSync()[0] - f(tf.tensor(minus, x.shape)).dataSync()[0]) / (2 * h),
      );
      expect(Math.abs(fd - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
    }
    x.dispose();
    res.dispose();
    attn.dispose();
  });
});
