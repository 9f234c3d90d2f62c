import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { l1Loss, maskedPatchLoss, mseLoss } from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

// B = 2, L = 3, D = 2.
const PRED = [
  [
    [0.5, -1],
    [0.25, 0.75],
    [-0.5, 0],
  ],
  [
    [1, 1],
    [0, -0.25],
    [0.3, 0.6],
  ],
];
const TARGET = [
  [
    [0, 0],
    [1, 0.5],
    [-0.5, 1],
  ],
  [
    [0.5, -1],
    [0.2, 0.2],
    [0, 0],
  ],
];
const MASK = [
  [1, 0, 0],
  [0, 1, 1],
];

function perPatch(p: number[][][], t: number[][][]): number[][] {
  return p.map((row, b) => row.map((v, l) => v.reduce((a, x, d) => a + (x - t[b][l][d]) ** 2, 0) / v.length));
}

describe('maskedPatchLoss', () => {
  it('matches the reference forward_loss by hand (per-patch mean, then over masked / visible patches)', () => {
    const pp = perPatch(PRED, TARGET);
    let ms = 0;
    let mc = 0;
    let vs = 0;
    let vc = 0;
    MASK.forEach((r, b) => {
      r.forEach((m, l) => {
        if (m) {
          ms += pp[b][l];
          mc++;
        } else {
          vs += pp[b][l];
          vc++;
        }
      });
    });
    const r = maskedPatchLoss(tf.tensor3d(PRED), tf.tensor3d(TARGET), tf.tensor2d(MASK));
    expect(r.masked.dataSync()[0]).toBeCloseTo(ms / mc, 6);
    expect(r.visible.dataSync()[0]).toBeCloseTo(vs / vc, 6);
    expect(r.total.dataSync()[0]).toBeCloseTo(0.25 * (ms / mc) + 0.75 * (vs / vc), 6);
    // First masked patch of sample 0: ((0.5)^2 + (-1)^2) / 2 = 0.625.
    expect(pp[0][0]).toBe(0.625);
    const half = maskedPatchLoss(tf.tensor3d(PRED), tf.tensor3d(TARGET), tf.tensor2d(MASK), {
      visibleWeight: 0.5,
    });
    expect(half.total.dataSync()[0]).toBeCloseTo(0.5 * (ms / mc + vs / vc), 6);
  });

  it('averages over all patches of the batch at once, not per sample first', () => {
    // Sample 0 has one masked patch, sample 1 two: a per-sample mean would weight them differently.
    const pp = perPatch(PRED, TARGET);
    const pooled = (pp[0][0] + pp[1][1] + pp[1][2]) / 3;
    const perSample = (pp[0][0] + (pp[1][1] + pp[1][2]) / 2) / 2;
    expect(Math.abs(pooled - perSample)).toBeGreaterThan(1e-3);
    const r = maskedPatchLoss(tf.tensor3d(PRED), tf.tensor3d(TARGET), tf.tensor2d(MASK));
    expect(r.masked.dataSync()[0]).toBeCloseTo(pooled, 6);
  });

  it('normPixLoss normalises each target patch with the unbiased variance (D - 1)', () => {
    const p = [[[0.1, 0.2, 0.3, 0.4]]];
    const t = [[[1, 2, 4, 7]]];
    const mean = 3.5;
    const varU = [1, 2, 4, 7].reduce((a, v) => a + (v - mean) ** 2, 0) / 3;
    const tn = t[0][0].map((v) => (v - mean) / Math.sqrt(varU + 1e-6));
    const want = p[0][0].reduce((a, v, i) => a + (v - tn[i]) ** 2, 0) / 4;
    const r = maskedPatchLoss(tf.tensor3d(p), tf.tensor3d(t), tf.tensor2d([[1]]), { normPixLoss: true });
    expect(r.masked.dataSync()[0]).toBeCloseTo(want, 5);
    expect(r.visible.dataSync()[0]).toBe(0);
  });

  it('gives 0 and a finite gradient for an empty set (mask ratio 0)', () => {
    const pred = tf.tensor3d(PRED);
    const g = tf.grad((p: tf.Tensor) => maskedPatchLoss(p, tf.tensor3d(TARGET), tf.zeros([2, 3])).total)(
      pred,
    );
    const r = maskedPatchLoss(pred, tf.tensor3d(TARGET), tf.zeros([2, 3]));
    expect(r.masked.dataSync()[0]).toBe(0);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    // d total / d pred = v * 2 (pred - target) / (D * visibleCount) with 6 visible patches.
    const want = PRED.flat(2).map((v, i) => (0.75 * 2 * (v - TARGET.flat(2)[i])) / (2 * 6));
    Array.from(g.dataSync()).forEach((v, i) => {
      expect(v).toBeCloseTo(want[i], 6);
    });
  });

  it('rejects bad shapes and weights before computing', () => {
    const p = tf.zeros([2, 3, 4]);
    expect(() => maskedPatchLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 3]))).toThrow(
      /pred must be \[B, L, D\]/,
    );
    expect(() => maskedPatchLoss(p, tf.zeros([2, 3, 5]), tf.zeros([2, 3]))).toThrow(
      /target must have pred's shape/,
    );
    expect(() => maskedPatchLoss(p, p, tf.zeros([2, 4]))).toThrow(/mask must be \[B, L\] = \[2, 3\]/);
    expect(() => maskedPatchLoss(p, p, tf.zeros([2, 3]), { visibleWeight: 1.5 })).toThrow(/visibleWeight/);
  });

  it('leaks no tensor in forward + backward', () => {
    const pred = tf.tensor3d(PRED);
    const target = tf.tensor3d(TARGET);
    const mask = tf.tensor2d(MASK);
    const before = tf.memory().numTensors;
    const g = tf.grad((p: tf.Tensor) => maskedPatchLoss(p, target, mask).total)(pred);
    g.dispose();
    const r = maskedPatchLoss(pred, target, mask, { normPixLoss: true });
    tf.dispose([r.masked, r.visible, r.total]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('mseLoss / l1Loss', () => {
  const x = [
    [1, 2],
    [3, 4],
  ];
  const y = [
    [0, 2],
    [5, 1],
  ];
  it('match hand computations for every reduction', () => {
    const xt = tf.tensor2d(x);
    const yt = tf.tensor2d(y);
    expect(mseLoss(xt, yt).dataSync()[0]).toBeCloseTo((1 + 0 + 4 + 9) / 4, 6);
    expect(mseLoss(xt, yt, 'sum').dataSync()[0]).toBeCloseTo(14, 6);
    expect(Array.from(mseLoss(xt, yt, 'per-sample').dataSync())).toEqual([0.5, 6.5]);
    expect(l1Loss(xt, yt).dataSync()[0]).toBeCloseTo((1 + 0 + 2 + 3) / 4, 6);
    expect(l1Loss(xt, yt, 'sum').dataSync()[0]).toBeCloseTo(6, 6);
    expect(Array.from(l1Loss(xt, yt, 'per-sample').dataSync())).toEqual([0.5, 2.5]);
  });

  it('reduces images [B, H, W, C] per sample over H, W and C', () => {
    const a = tf.ones([2, 2, 2, 3]);
    const b = tf.concat([tf.zeros([1, 2, 2, 3]), tf.fill([1, 2, 2, 3], 3)]);
    expect(Array.from(mseLoss(a, b, 'per-sample').dataSync())).toEqual([1, 4]);
  });

  it('rejects mismatched shapes and unknown reductions', () => {
    expect(() => mseLoss(tf.zeros([2, 2]), tf.zeros([2, 3]))).toThrow(/same shape/);
    expect(() => l1Loss(tf.zeros([2]), tf.zeros([2]), 'max' as never)).toThrow(/reduction/);
  });
});
