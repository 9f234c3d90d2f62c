import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adaptiveWeight,
  adoptWeight,
  BatchNorm2d,
  generatorLoss,
  hingeDLoss,
  NLayerDiscriminator,
  vanillaDLoss,
} from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const REAL = [1.5, 0.5, -1, 0.2];
const FAKE = [-2, 0, 0.5, 1.2];
const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
const softplus = (v: number): number => Math.log1p(Math.exp(v));

describe('GAN losses', () => {
  it('hinge, vanilla and generator losses match hand computations', () => {
    const r = tf.tensor4d(REAL, [1, 2, 2, 1]);
    const f = tf.tensor4d(FAKE, [1, 2, 2, 1]);
    const hinge =
      0.5 * (mean(REAL.map((v) => Math.max(0, 1 - v))) + mean(FAKE.map((v) => Math.max(0, 1 + v))));
    expect(hinge).toBeCloseTo(0.5 * (3.3 / 4 + 4.7 / 4), 10);
    expect(hingeDLoss(r, f).dataSync()[0]).toBeCloseTo(hinge, 6);
    const vanilla = 0.5 * (mean(REAL.map((v) => softplus(-v))) + mean(FAKE.map(softplus)));
    expect(vanillaDLoss(r, f).dataSync()[0]).toBeCloseTo(vanilla, 6);
    expect(generatorLoss(f).dataSync()[0]).toBeCloseTo(-mean(FAKE), 6);
  });

  it('have the hand-derived gradients', () => {
    const r = tf.tensor1d(REAL);
    const f = tf.tensor1d(FAKE);
    const [gr, gf] = tf
      .grads((a: tf.Tensor, b: tf.Tensor) => hingeDLoss(a, b))([r, f])
      .map((t) => Array.from(t.dataSync(), (v) => v + 0));
    expect(gr).toEqual(REAL.map((v) => (v < 1 ? -0.5 / 4 : 0)));
    expect(gf).toEqual(FAKE.map((v) => (v > -1 ? 0.5 / 4 : 0)));
    const gg = Array.from(
      tf
        .grad((b: tf.Tensor) => generatorLoss(b))(f)
        .dataSync(),
    );
    expect(gg).toEqual([-0.25, -0.25, -0.25, -0.25]);
  });

  it('adoptWeight switches the disc factor on at the start step', () => {
    expect(adoptWeight(1, 4, 5)).toBe(0);
    expect(adoptWeight(1, 5, 5)).toBe(1);
    expect(adoptWeight(0.5, 0)).toBe(0.5);
    expect(adoptWeight(1, 2, 5, 0.1)).toBe(0.1);
  });

  it('adaptiveWeight = ||g_nll|| / (||g_gan|| + 1e-4), clamped to [0, 1e4], times discWeight', () => {
    const nll = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])];
    const gan = tf.tensor1d([0, 1.2, 1.6]);
    expect(adaptiveWeight(nll, gan, 0.5).dataSync()[0]).toBeCloseTo((0.5 * 5) / (2 + 1e-4), 5);
    expect(adaptiveWeight(tf.tensor1d([3, 4]), tf.zeros([3])).dataSync()[0]).toBeCloseTo(1e4, 1);
    expect(adaptiveWeight(tf.zeros([2]), gan).dataSync()[0]).toBe(0);
    expect(() => adaptiveWeight([], gan)).toThrow(/non-empty/);
    expect(() => adaptiveWeight(gan, gan, Number.NaN)).toThrow(/discWeight/);
  });

  it('reject non-tensors and empty logits', () => {
    expect(() => hingeDLoss([1] as never, tf.zeros([1]))).toThrow(/must be tensors/);
    expect(() => vanillaDLoss(tf.zeros([0]), tf.zeros([1]))).toThrow(/empty/);
    expect(() => generatorLoss(tf.zeros([0]))).toThrow(/non-empty/);
  });
});

describe('BatchNorm2d', () => {
  // x [2, 1, 2, 2]: channel 0 values 1, 2, 3, 6; channel 1 values 0, 0, 4, 4.
  const X = [1, 0, 2, 0, 3, 4, 6, 4];
  it('normalises with batch statistics in training and updates the running ones as torch does', () => {
    const bn = new BatchNorm2d(2);
    tf.tidy(() => {
      bn.weight.assign(tf.tensor1d([2, 1]));
      bn.bias.assign(tf.tensor1d([0.5, -1]));
    });
    const y = bn.forward(tf.tensor4d(X, [2, 1, 2, 2])).dataSync();
    const stats = [
      [1, 2, 3, 6],
      [0, 0, 4, 4],
    ].map((v) => {
      const m = mean(v);
      return { m, vb: mean(v.map((a) => (a - m) ** 2)), vu: v.reduce((s, a) => s + (a - m) ** 2, 0) / 3 };
    });
    const w = [2, 1];
    const b = [0.5, -1];
    X.forEach((v, i) => {
      const c = i % 2;
      expect(y[i]).toBeCloseTo(((v - stats[c].m) / Math.sqrt(stats[c].vb + 1e-5)) * w[c] + b[c], 5);
    });
    const sd = bn.stateDict();
    expect(Array.from(sd.running_mean.dataSync())).toEqual(stats.map((s) => Math.fround(0.1 * s.m)));
    sd.running_var.dataSync().forEach((v, c) => {
      expect(v).toBeCloseTo(0.9 + 0.1 * stats[c].vu, 6);
    });
    expect(sd.num_batches_tracked.dataSync()[0]).toBe(1);
    expect(sd.num_batches_tracked.dtype).toBe('int32');
    // Eval mode: the running statistics.
    bn.eval();
    const ye = bn.forward(tf.tensor4d(X, [2, 1, 2, 2])).dataSync();
    const rm = sd.running_mean.dataSync();
    const rv = sd.running_var.dataSync();
    X.forEach((v, i) => {
      const c = i % 2;
      expect(ye[i]).toBeCloseTo(((v - rm[c]) / Math.sqrt(rv[c] + 1e-5)) * w[c] + b[c], 5);
    });
    expect(bn.stateDict().num_batches_tracked.dataSync()[0]).toBe(1);
    expect(bn.parameters().length).toBe(2);
  });

  it('updates running stats inside a gradient computation without leaking', () => {
    const bn = new BatchNorm2d(2);
    const x = tf.tensor4d(X, [2, 1, 2, 2]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(bn.forward(x))) as tf.Scalar,
      bn.parameters(),
    );
    // d/dw sum((w * xhat + b)^2) = 2 * sum(xhat^2) = 2 * 4 per channel at w = 1, b = 0.
    grads[bn.weight.name].dataSync().forEach((v) => {
      expect(v).toBeCloseTo(8, 3);
    });
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(0.3, 6);
  });

  it('rejects bad inputs', () => {
    expect(() => new BatchNorm2d(0)).toThrow(/numFeatures/);
    expect(() => new BatchNorm2d(2).forward(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D)).toThrow(/\[B, H, W, 2\]/);
    expect(() => new BatchNorm2d(2).forward(tf.zeros([1, 1, 1, 2]) as tf.Tensor4D)).toThrow(
      /more than one value/,
    );
  });
});

describe('NLayerDiscriminator', () => {
  let disc: NLayerDiscriminator;
  beforeAll(() => {
    disc = new NLayerDiscriminator({ rng: createRng(1) });
  });

  it("has taming's state-dict names and shapes and 2,765,633 trainable numbers", () => {
    const bn = (i: number, c: number): Record<string, number[]> => ({
      [`main.${i}.weight`]: [c],
      [`main.${i}.bias`]: [c],
      [`main.${i}.running_mean`]: [c],
      [`main.${i}.running_var`]: [c],
      [`main.${i}.num_batches_tracked`]: [],
    });
    expect(disc.stateDictShapes()).toEqual({
      'main.0.weight': [64, 3, 4, 4],
      'main.0.bias': [64],
      'main.2.weight': [128, 64, 4, 4],
      ...bn(3, 128),
      'main.5.weight': [256, 128, 4, 4],
      ...bn(6, 256),
      'main.8.weight': [512, 256, 4, 4],
      ...bn(9, 512),
      'main.11.weight': [1, 512, 4, 4],
      'main.11.bias': [1],
    });
    // 3136 + 131072 + 256 + 524288 + 512 + 2097152 + 1024 + 8193 trainable numbers.
    expect(disc.numParameters()).toBe(2765633);
  });

  it('is initialised as weights_init: conv weights N(0, 0.02), BN weights N(1, 0.02), BN biases 0', () => {
    const sd = disc.stateDict();
    const w = sd['main.8.weight'].dataSync();
    const m = mean(Array.from(w));
    const sd8 = Math.sqrt(mean(Array.from(w, (v) => (v - m) ** 2)));
    expect(Math.abs(m)).toBeLessThan(1e-3);
    expect(Math.abs(sd8 - 0.02)).toBeLessThan(2e-4);
    const g = Array.from(sd['main.9.weight'].dataSync());
    expect(Math.abs(mean(g) - 1)).toBeLessThan(0.01);
    expect(Array.from(sd['main.9.bias'].dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose(Object.values(sd));
  });

  it('maps 32x32 to 2x2 and 64x64 to 6x6 patch logits', () => {
    disc.eval();
    const a = disc.forward(tf.zeros([2, 32, 32, 3]) as tf.Tensor4D);
    const b = disc.forward(tf.zeros([1, 64, 64, 3]) as tf.Tensor4D);
    expect(a.shape).toEqual([2, 2, 2, 1]);
    expect(b.shape).toEqual([1, 6, 6, 1]);
    disc.train();
    expect(() => disc.forward(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D)).toThrow(/too small/);
    expect(() => disc.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D)).toThrow(/\[B, H, W, 3\]/);
    tf.dispose([a, b]);
  });

  it('trains: a hinge step gives finite gradients for every parameter and leaks nothing', () => {
    const real = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const fake = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => hingeDLoss(disc.forward(real), disc.forward(fake)),
      disc.parameters(),
    );
    expect(Object.keys(grads).length).toBe(disc.parameters().length);
    for (const g of Object.values(grads)) expect(g.dataSync().every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
