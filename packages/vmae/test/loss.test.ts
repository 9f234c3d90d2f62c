import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VMAE, VMAE_STAGE1, VMAE_STAGE3, type VMAEForwardOutput } from '../src/index.js';
import { microVMAE, randomImages } from './helpers.js';

// Each term recomputed in plain JS (float64) from the prediction, the input, the mask and the
// posterior moments of the visible tokens, then compared with what VMAE.forward returns.

let m: VMAE;
let x: tf.Tensor4D;
const B = 2;
const L = 16;
const P = 4;
const noise = createRng(21).uniformArray(B * L);

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  m = microVMAE({}, 5);
  x = randomImages(B, 16, 16, 8);
});
afterAll(() => {
  m.dispose();
  x.dispose();
});

/** Per-patch MSE [B * L] from images, patches of P x P x 3 on a 4 x 4 grid. */
function perPatchMse(pred: ArrayLike<number>, target: ArrayLike<number>): number[] {
  const out = new Array(B * L).fill(0);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < 16; y++)
      for (let xx = 0; xx < 16; xx++)
        for (let c = 0; c < 3; c++) {
          const i = ((b * 16 + y) * 16 + xx) * 3 + c;
          const tok = b * L + Math.floor(y / P) * 4 + Math.floor(xx / P);
          out[tok] += (pred[i] - target[i]) ** 2 / (P * P * 3);
        }
  return out;
}

/** Moments of the visible tokens, as the training forward sees them. */
function visibleMoments(ratio: number): { mean: number[]; logvar: number[] } {
  return tf.tidy(() => {
    const { tokens } = m.forwardEncoder(x, { maskRatio: ratio, noise });
    const [mu, lv] = tf.split(m.toLatent.forward(tokens), 2, -1);
    return { mean: Array.from(mu.dataSync()), logvar: Array.from(tf.clipByValue(lv, -30, 20).dataSync()) };
  });
}

const lpipsStub = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.mean(tf.abs(tf.sub(a, b)), [1, 2, 3]);

function values(o: VMAEForwardOutput) {
  const r = {
    loss: o.loss.dataSync()[0],
    masked: o.masked.dataSync()[0],
    visible: o.visible.dataSync()[0],
    kl: o.kl.dataSync()[0],
    lpips: o.lpips ? o.lpips.dataSync()[0] : null,
    pred: o.pred.dataSync() as Float32Array,
    mask: Array.from(o.mask.dataSync()),
  };
  tf.dispose([o.loss, o.masked, o.visible, o.kl, o.pred, o.mask, ...(o.lpips ? [o.lpips] : [])]);
  return r;
}

describe('stage-1 objective', () => {
  it('L_M, L_R, KL, LPIPS and their weighted sum match hand-computed values', () => {
    const o = values(m.forward(x, { noise, sample: false, lpips: lpipsStub, klWeight: 0.01 }));
    const xs = x.dataSync();
    const per = perPatchMse(o.pred, xs);
    const sum = (f: (i: number) => number) => per.reduce((a, _, i) => a + f(i), 0);
    const nMasked = o.mask.reduce((a, v) => a + v, 0);
    expect(nMasked).toBe(B * 4);
    const lm = sum((i) => per[i] * o.mask[i]) / nMasked;
    const lr = sum((i) => per[i] * (1 - o.mask[i])) / (B * L - nMasked);
    expect(o.masked).toBeCloseTo(lm, 6);
    expect(o.visible).toBeCloseTo(lr, 6);
    // KL, the paper's form: 0.5 * sum(var - 1 - logvar) over visible tokens and channels / (B * K).
    const { mean, logvar } = visibleMoments(0.25);
    expect(mean.length).toBe(B * 12 * 4);
    const kl = (0.5 * logvar.reduce((a, v) => a + Math.exp(v) - 1 - v, 0)) / (B * 12);
    expect(o.kl).toBeCloseTo(kl, 5);
    // LPIPS term: the stub's per-sample mean |pred - x|, averaged over the batch.
    let lp = 0;
    for (let i = 0; i < xs.length; i++) lp += Math.abs(o.pred[i] - xs[i]);
    lp /= xs.length;
    expect(o.lpips!).toBeCloseTo(lp, 6);
    expect(o.loss).toBeCloseTo(0.25 * lm + 0.75 * lr + 0.5 * lp + 0.01 * kl, 5);
  });

  it('the other KL forms: standard N(0, I) and the released fixed std 1e-3', () => {
    const { mean, logvar } = visibleMoments(0.25);
    const std = values(m.forward(x, { noise, sample: false, klForm: 'standard' })).kl;
    const fixed = values(m.forward(x, { noise, sample: false, klForm: { fixedStd: 1e-3 } })).kl;
    const s2 = 1e-6;
    let a = 0;
    let f = 0;
    for (let i = 0; i < mean.length; i++) {
      a += mean[i] ** 2 + Math.exp(logvar[i]) - 1 - logvar[i];
      f += Math.exp(logvar[i]) / s2 - 1 - logvar[i] + Math.log(s2);
    }
    expect(std).toBeCloseTo((0.5 * a) / (B * 12), 4);
    expect(fixed / ((0.5 * f) / (B * 12))).toBeCloseTo(1, 5);
  });

  it('sampling draws z from the Rng: same seed same loss, and differs from the mean', () => {
    const a = values(m.forward(x, { noise, rng: createRng(3) })).loss;
    const b = values(m.forward(x, { noise, rng: createRng(3) })).loss;
    const c = values(m.forward(x, { noise, sample: false })).loss;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});

describe('stage-3 objective', () => {
  it('is the full-image MSE plus 10 x LPIPS, without KL or masking', () => {
    const r = VMAE_STAGE3;
    const o = values(
      m.forward(x, {
        maskRatio: r.maskRatio,
        visibleWeight: r.visibleWeight,
        klWeight: r.klWeight,
        lpipsWeight: r.lpipsWeight,
        sample: r.sample,
        lpips: lpipsStub,
      }),
    );
    const xs = x.dataSync();
    let mse = 0;
    let lp = 0;
    for (let i = 0; i < xs.length; i++) {
      mse += (o.pred[i] - xs[i]) ** 2;
      lp += Math.abs(o.pred[i] - xs[i]);
    }
    mse /= xs.length;
    lp /= xs.length;
    expect(o.mask.every((v) => v === 0)).toBe(true);
    expect(o.masked).toBe(0);
    expect(o.visible).toBeCloseTo(mse, 6);
    expect(o.loss).toBeCloseTo(mse + 10 * lp, 5);
    // Decoding the posterior mean: the same as reconstruct().
    const rec = m.reconstruct(x);
    const rv = rec.dataSync();
    let d = 0;
    for (let i = 0; i < rv.length; i++) d = Math.max(d, Math.abs(rv[i] - o.pred[i]));
    expect(d).toBeLessThan(1e-6);
    rec.dispose();
    expect(VMAE_STAGE1.maskRatio).toBe(0.25);
  });

  it('rejects bad weights and KL forms by name', () => {
    expect(() => m.forward(x, { noise, sample: false, visibleWeight: 1.5 })).toThrow(
      /visibleWeight must be in \[0, 1\]/,
    );
    expect(() => m.forward(x, { noise, sample: false, klWeight: -1 })).toThrow(/klWeight/);
    expect(() => m.forward(x, { noise, sample: false, klForm: { fixedStd: 0 } })).toThrow(/klForm/);
    expect(() => m.forward(x, { noise, lpips: 3 as never, sample: false })).toThrow(
      /lpips must be a function/,
    );
  });
});
