import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  clipByGlobalNorm,
  clipByGlobalNormAsync,
  constantLr,
  setupBackend,
  warmupCosineLr,
  warmupCosineLrAt,
} from '../src/index.node.js';

describe('warmupCosineLr (MAE util/lr_sched.py, per iteration)', () => {
  const o = { baseLr: 1.5e-4, minLr: 1e-6, warmupSteps: 40, totalSteps: 400 };
  const sched = warmupCosineLr(o);
  const cosine = (it: number) =>
    o.minLr + (o.baseLr - o.minLr) * 0.5 * (1 + Math.cos((Math.PI * (it - 40)) / (400 - 40)));

  it('ramps linearly from 0 during warm-up', () => {
    expect(sched(0)).toBe(0);
    expect(sched(10)).toBeCloseTo((o.baseLr * 10) / 40, 15);
    expect(sched(39)).toBeCloseTo((o.baseLr * 39) / 40, 15);
  });

  it('peaks at the end of warm-up, halves at mid-cosine, and ends at minLr', () => {
    expect(sched(40)).toBeCloseTo(o.baseLr, 15);
    expect(sched(220)).toBeCloseTo((o.baseLr + o.minLr) / 2, 15);
    expect(sched(133)).toBeCloseTo(cosine(133), 15);
    expect(sched(399)).toBeCloseTo(cosine(399), 15);
    expect(sched(399)).toBeGreaterThan(o.minLr);
    expect(sched(400)).toBe(o.minLr);
    expect(sched(10_000)).toBe(o.minLr);
    // MAE passes fractional epochs; the same formula holds between iterations.
    expect(warmupCosineLrAt(40.5, o)).toBeCloseTo(cosine(40.5), 15);
  });

  it('has no warm-up when warmupSteps is 0', () => {
    const s = warmupCosineLr({ baseLr: 1, totalSteps: 10 });
    expect(s(0)).toBe(1);
    expect(s(5)).toBeCloseTo(0.5, 15);
  });

  it('rejects bad options naming them', () => {
    expect(() => warmupCosineLr({ baseLr: 1, warmupSteps: 10, totalSteps: 10 })).toThrow(
      /totalSteps \(10\) must exceed warmupSteps \(10\)/,
    );
    expect(() => warmupCosineLr({ baseLr: -1, totalSteps: 10 })).toThrow(
      /baseLr must be a finite number >= 0/,
    );
    expect(() => sched(-1)).toThrow(/step must be a finite number >= 0/);
  });
});

describe('constantLr', () => {
  it('is constant, with an optional linear warm-up', () => {
    expect(constantLr(1e-4)(0)).toBe(1e-4);
    expect(constantLr(1e-4)(123456)).toBe(1e-4);
    const w = constantLr({ lr: 2, warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 100].map(w)).toEqual([0, 0.5, 1, 1.5, 2, 2]);
    expect(() => constantLr(Number.NaN)).toThrow(/constantLr: lr/);
  });
});

describe('clipByGlobalNorm', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  it('scales by maxNorm / (norm + 1e-6) when the norm is too large', () => {
    const grads = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
    const n0 = tf.memory().numTensors;
    const { grads: out, norm } = clipByGlobalNorm(grads, 6.5);
    expect(tf.memory().numTensors).toBe(n0 + 2);
    expect(norm).toBeCloseTo(13, 5);
    const scale = 6.5 / (13 + 1e-6);
    const a = out.a.dataSync();
    expect(a[0]).toBeCloseTo(3 * scale, 6);
    expect(a[1]).toBeCloseTo(4 * scale, 6);
    expect(out.b.shape).toEqual([1, 1]);
    expect(out.b.dataSync()[0]).toBeCloseTo(12 * scale, 5);
    const clippedNorm = Math.hypot(a[0], a[1], out.b.dataSync()[0]);
    expect(clippedNorm).toBeCloseTo(6.5, 4);
    // Inputs are untouched and still the caller's.
    expect(Array.from(grads.a.dataSync())).toEqual([3, 4]);
    tf.dispose([...Object.values(out), ...Object.values(grads)]);
  });

  it('returns unchanged copies when the norm is within the limit', () => {
    const grads = { a: tf.tensor1d([3, 4]), skip: null };
    const { grads: out, norm } = clipByGlobalNorm(grads, 5.1);
    expect(norm).toBeCloseTo(5, 6);
    expect(Object.keys(out)).toEqual(['a']);
    expect(out.a).not.toBe(grads.a);
    expect(Array.from(out.a.dataSync())).toEqual([3, 4]);
    grads.a.dispose();
    expect(Array.from(out.a.dataSync())).toEqual([3, 4]);
    out.a.dispose();
  });

  it('reports a non-finite norm', () => {
    const grads = { a: tf.tensor1d([1, Number.NaN]) };
    const { grads: out, norm } = clipByGlobalNorm(grads, 1);
    expect(Number.isNaN(norm)).toBe(true);
    tf.dispose([out.a, grads.a]);
  });

  it('rejects a bad maxNorm', () => {
    expect(() => clipByGlobalNorm({}, 0)).toThrow(/maxNorm must be a finite number > 0/);
  });

  it('clipByGlobalNormAsync gives the same norm and gradients, and the same errors', async () => {
    const grads = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]), skip: null };
    const n0 = tf.memory().numTensors;
    const sync = clipByGlobalNorm(grads, 6.5);
    const async = await clipByGlobalNormAsync(grads, 6.5);
    expect(async.norm).toBe(sync.norm);
    expect(Object.keys(async.grads)).toEqual(['a', 'b']);
    for (const k of ['a', 'b'])
      expect(Array.from(await async.grads[k].data())).toEqual(Array.from(sync.grads[k].dataSync()));
    tf.dispose([...Object.values(sync.grads), ...Object.values(async.grads)]);
    expect(tf.memory().numTensors).toBe(n0);
    expect(await clipByGlobalNormAsync({}, 1)).toEqual({ grads: {}, norm: 0 });
    await expect(clipByGlobalNormAsync({}, -1)).rejects.toThrow(
      /clipByGlobalNormAsync: maxNorm must be a finite number > 0/,
    );
    tf.dispose([grads.a, grads.b]);
  });
});
