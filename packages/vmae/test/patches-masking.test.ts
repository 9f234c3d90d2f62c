import { createRng, patchify, setupBackend, unpatchify } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { planMasking } from '../src/index.js';
import { keptRows, keptTokens, restoreRows, takeRows } from '../src/masking.js';
import { maxAbsDiff, microVMAE, randomImages } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('patchify / unpatchify', () => {
  it('orders each patch vector (p, q, c) over row-major tokens, like MAE', () => {
    const [b, h, w, c, p] = [2, 8, 12, 3, 4];
    const x = tf.tensor4d(
      Float32Array.from({ length: b * h * w * c }, (_, i) => i),
      [b, h, w, c],
    );
    const pt = patchify(x, p);
    expect(pt.shape).toEqual([b, (h / p) * (w / p), p * p * c]);
    const v = pt.dataSync();
    const gw = w / p;
    // Closed form: patch (r, s) of sample n, entry (pi, qi, ci) is pixel (r*p + pi, s*p + qi, ci).
    for (const [n, r, s, pi, qi, ci] of [
      [0, 0, 0, 0, 0, 0],
      [1, 1, 2, 3, 1, 2],
      [0, 1, 0, 2, 3, 1],
      [1, 0, 2, 1, 0, 0],
    ]) {
      const got = v[(n * (h / p) * gw + r * gw + s) * p * p * c + (pi * p + qi) * c + ci];
      const want = ((n * h + r * p + pi) * w + s * p + qi) * c + ci;
      expect(got).toBe(want);
    }
    const back = unpatchify(pt, p, [h / p, w / p], c);
    expect(maxAbsDiff(back, x)).toBe(0);
    tf.dispose([x, pt, back]);
  });

  it('unpatchify(patchify(x)) = x and patchify(unpatchify(t)) = t, without leaks', () => {
    const x = randomImages(3, 16, 16);
    const before = tf.memory().numTensors;
    const t = patchify(x, 4);
    const y = unpatchify(t, 4);
    const t2 = patchify(y, 4);
    expect(maxAbsDiff(y, x)).toBe(0);
    expect(maxAbsDiff(t2, t)).toBe(0);
    tf.dispose([t, y, t2]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects bad shapes with named arguments', () => {
    const x = tf.zeros([1, 10, 12, 3]);
    expect(() => patchify(x, 4)).toThrow(/image size 10x12 must be divisible by the patch size 4/);
    expect(() => patchify(tf.zeros([4, 4, 3]), 4)).toThrow(/\[B, H, W, C\]/);
    expect(() => unpatchify(tf.zeros([1, 6, 48]), 4)).toThrow(/not a square grid/);
    expect(() => unpatchify(tf.zeros([1, 4, 47]), 4)).toThrow(/p\*p\*C = 48/);
    x.dispose();
  });
});

describe('random masking', () => {
  it("keeps int(L * (1 - r)) tokens per sample, the reference's count", () => {
    expect(keptTokens(49, 0.25)).toBe(36); // 36.75 truncated
    expect(keptTokens(64, 0.25)).toBe(48);
    expect(keptTokens(1024, 0.25)).toBe(768);
    expect(keptTokens(16, 0.75)).toBe(4);
    // Float64 as in Python: 1 - 0.9 = 0.09999999999999998, so int(100 * 0.0999...) = 9, not round()'s 10.
    expect(keptTokens(100, 0.9)).toBe(9);
    const plan = planMasking(5, 49, 0.25, createRng(1));
    for (let b = 0; b < 5; b++) {
      const row = plan.mask.subarray(b * 49, (b + 1) * 49);
      expect(row.reduce((a, v) => a + v, 0)).toBe(49 - 36);
    }
    expect(plan.keep).toBe(36);
  });

  it('keeps the tokens of smallest noise, and ids_restore inverts ids_shuffle', () => {
    const noise = [0.9, 0.1, 0.5, 0.3, /* sample 2 */ 0.2, 0.8, 0.4, 0.6];
    const plan = planMasking(2, 4, 0.5, noise);
    expect(Array.from(plan.idsShuffle)).toEqual([1, 3, 2, 0, 0, 2, 3, 1]);
    expect(Array.from(plan.mask)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 4; i++) expect(plan.idsRestore[b * 4 + plan.idsShuffle[b * 4 + i]]).toBe(i);
    expect(Array.from(keptRows(plan))).toEqual([1, 3, 4, 6]);
    expect(Array.from(restoreRows(plan))).toEqual([-1, 0, -1, 1, 2, -1, 3, -1]);
  });

  it('is seeded: the same Rng seed gives the same plan', () => {
    const a = planMasking(3, 16, 0.25, createRng(42));
    const b = planMasking(3, 16, 0.25, createRng(42));
    const c = planMasking(3, 16, 0.25, createRng(43));
    expect(a.idsShuffle).toEqual(b.idsShuffle);
    expect(a.idsShuffle).not.toEqual(c.idsShuffle);
  });

  it('the model keeps tokens in shuffled order and the decoder unshuffle restores token order', () => {
    const m = microVMAE();
    const x = tf.tensor3d(
      Float32Array.from({ length: 2 * 16 * 3 }, (_, i) => i + 1),
      [2, 16, 3],
    );
    const before = tf.memory().numTensors;
    const { x: kept, mask, idsRestore, plan } = m.randomMasking(x, 0.25, createRng(5));
    expect(kept.shape).toEqual([2, 12, 3]);
    const kv = kept.arraySync();
    const xv = x.arraySync();
    for (let b = 0; b < 2; b++)
      for (let k = 0; k < 12; k++) expect(kv[b][k]).toEqual(xv[b][plan.idsShuffle[b * 16 + k]]);
    // restoreRows puts kept token k of sample b back at its position (and zeros where masked).
    const restoredT = tf.tidy(() => takeRows(tf.reshape(kept, [24, 3]), restoreRows(plan)));
    const restored = restoredT.arraySync();
    const m2 = mask.arraySync();
    for (let b = 0; b < 2; b++)
      for (let l = 0; l < 16; l++)
        expect(restored[b * 16 + l]).toEqual(m2[b][l] === 1 ? [0, 0, 0] : xv[b][l]);
    expect(Array.from(idsRestore.dataSync())).toEqual(Array.from(plan.idsRestore));
    tf.dispose([kept, mask, idsRestore, restoredT]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    m.dispose();
  });

  it('rejects ratios outside [0, 1) and ratios that keep nothing', () => {
    expect(() => planMasking(1, 4, 1, createRng(0))).toThrow(/maskRatio must be in \[0, 1\)/);
    expect(() => planMasking(1, 4, -0.1, createRng(0))).toThrow(/maskRatio/);
    expect(() => planMasking(1, 3, 0.7, createRng(0))).toThrow(/keeps no token of 3/);
    expect(() => planMasking(2, 4, 0.5, [0.1, 0.2])).toThrow(/8 numbers/);
  });
});

describe('takeRows', () => {
  it("has tf.gather's gradient: dy scattered onto the rows that were read", async () => {
    const rows = Int32Array.from([4, -1, 0, 2, -1, 5]);
    const x = createRng(2).normal([7, 3]);
    const r = createRng(3).normal([6, 3]);
    const ours = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(takeRows(v, rows), r)))(x);
    // Reference: d/dx sum(r * x[rows]) puts r[m] on row rows[m], zeros elsewhere.
    const want = new Float32Array(21);
    const rv = r.dataSync();
    rows.forEach((row, m) => {
      if (row >= 0) for (let j = 0; j < 3; j++) want[row * 3 + j] += rv[m * 3 + j];
    });
    expect(Array.from(ours.dataSync())).toEqual(Array.from(want));
    const taken = takeRows(x, rows);
    const fwd = taken.arraySync();
    const xv = (x as tf.Tensor2D).arraySync();
    rows.forEach((row, m) => {
      expect(fwd[m]).toEqual(row < 0 ? [0, 0, 0] : xv[row]);
    });
    tf.dispose([x, r, ours, taken]);
  });

  it('the host copy (wasm, cpu) and the tf.gather path agree in value and gradient', () => {
    const rows = Int32Array.from([3, -1, 0, 1, -1]);
    const x = createRng(4).normal([5, 6]);
    const r = createRng(5).normal([5, 6]);
    const out: tf.Tensor[] = [];
    for (const impl of ['host', 'gather'] as const) {
      out.push(takeRows(x, rows, impl));
      out.push(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(takeRows(v, rows, impl), r)))(x));
    }
    expect(maxAbsDiff(out[0], out[2])).toBe(0);
    expect(maxAbsDiff(out[1], out[3])).toBe(0);
    tf.dispose([x, r, ...out]);
  });

  it('refuses a row read twice (its gradient would need a sum)', () => {
    const x = tf.zeros([3, 2]);
    expect(() => takeRows(x, Int32Array.from([0, 0]))).toThrow(/row 0 is read twice/);
    expect(() => takeRows(x, Int32Array.from([3]))).toThrow(/outside \[-1, 3\)/);
    x.dispose();
  });
});
