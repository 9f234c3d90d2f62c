import { DiagonalGaussian, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { klLoss } from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

// B = 2, L = 3 tokens, C = 2 channels.
const MEAN = [
  [
    [0.5, -1],
    [0, 2],
    [1.5, 0.25],
  ],
  [
    [-0.5, 0.1],
    [0.3, -0.7],
    [0, 0],
  ],
];
const LOGVAR = [
  [
    [0, -1],
    [0.5, -2],
    [-0.3, 1],
  ],
  [
    [1.2, -0.4],
    [0, 0.2],
    [-3, 0.7],
  ],
];

const post = (): DiagonalGaussian => new DiagonalGaussian(tf.tensor3d(MEAN), tf.tensor3d(LOGVAR));

// Closed forms of KL between univariate Gaussians, KL(N(m, v) || N(m2, v2)).
const klGauss = (m: number, v: number, m2: number, v2: number): number =>
  0.5 * Math.log(v2 / v) + (v + (m - m2) ** 2) / (2 * v2) - 0.5;

function perToken(f: (m: number, v: number) => number): number[][] {
  return MEAN.map((r, b) => r.map((ch, l) => ch.reduce((a, m, c) => a + f(m, Math.exp(LOGVAR[b][l][c])), 0)));
}

describe('klLoss forms match closed forms', () => {
  const cases: [string, Parameters<typeof klLoss>[1], (m: number, v: number) => number][] = [
    ['standard = KL(q || N(0, 1))', { form: 'standard' }, (m, v) => klGauss(m, v, 0, 1)],
    // The mean is free: the KL to a Gaussian centred on the posterior's own mean.
    ['unit-variance = KL(q || N(mu, 1))', { form: 'unit-variance' }, (m, v) => klGauss(m, v, m, 1)],
    ['fixedStd s = KL(q || N(mu, s^2))', { form: { fixedStd: 0.3 } }, (m, v) => klGauss(m, v, m, 0.09)],
  ];
  for (const [name, opts, f] of cases) {
    it(name, () => {
      const tok = perToken(f);
      const perSample = tok.map((r) => r.reduce((a, v) => a + v, 0));
      const q = post();
      const none = klLoss(q, { ...opts, reduction: 'none' }).dataSync();
      perSample.forEach((v, b) => {
        expect(none[b]).toBeCloseTo(v, 4);
      });
      expect(klLoss(q, { ...opts, reduction: 'per-sample' }).dataSync()[0]).toBeCloseTo(
        (perSample[0] + perSample[1]) / 2,
        4,
      );
      expect(klLoss(q, { ...opts, reduction: 'per-token' }).dataSync()[0]).toBeCloseTo(
        (perSample[0] + perSample[1]) / 6,
        4,
      );
    });
  }

  it('defaults to the paper form (unit-variance) with the per-token reduction', () => {
    const q = post();
    expect(klLoss(q).dataSync()[0]).toBeCloseTo(
      klLoss(q, { form: 'unit-variance', reduction: 'per-token' }).dataSync()[0],
      6,
    );
  });

  it("'none' is the posterior's per-sample KL: one sum over every latent element", () => {
    const q = post();
    const terms: [Parameters<typeof klLoss>[1], (m: tf.Tensor, lv: tf.Tensor) => tf.Tensor][] = [
      [{ form: 'standard' }, (m, lv) => tf.sub(tf.add(tf.square(m), tf.exp(lv)), tf.add(lv, 1))],
      [{ form: 'unit-variance' }, (_, lv) => tf.sub(tf.exp(lv), tf.add(lv, 1))],
      [
        { form: { fixedStd: 1e-3 } },
        (_, lv) => tf.add(tf.sub(tf.div(tf.exp(lv), 1e-6), tf.add(lv, 1)), Math.log(1e-6)),
      ],
    ];
    for (const [a, f] of terms) {
      const mine = klLoss(q, { ...a, reduction: 'none' }).dataSync();
      const ref = tf.mul(tf.sum(f(q.mean, q.logvar), [1, 2]), 0.5).dataSync();
      expect(Array.from(mine)).toEqual(Array.from(ref));
    }
  });

  it('is zero at the target distribution', () => {
    const q = new DiagonalGaussian(tf.zeros([1, 4, 3]), tf.zeros([1, 4, 3]));
    expect(klLoss(q, { form: 'standard' }).dataSync()[0]).toBeCloseTo(0, 7);
    const s = 0.01;
    const q2 = new DiagonalGaussian(tf.fill([1, 4, 3], 5), tf.fill([1, 4, 3], Math.log(s * s)));
    expect(klLoss(q2, { form: { fixedStd: s } }).dataSync()[0]).toBeCloseTo(0, 4);
  });
});

describe('klLoss reductions with a token mask', () => {
  it("counts only visible tokens and divides by the batch's visible count (the reference's sum / B / N)", () => {
    const tok = perToken((m, v) => klGauss(m, v, m, 1));
    const mask = [
      [0, 1, 0],
      [1, 0, 0],
    ];
    let sum = 0;
    const perSample = [0, 0];
    mask.forEach((r, b) => {
      r.forEach((m, l) => {
        if (!m) {
          sum += tok[b][l];
          perSample[b] += tok[b][l];
        }
      });
    });
    const q = post();
    const m = tf.tensor2d(mask);
    expect(klLoss(q, { mask: m }).dataSync()[0]).toBeCloseTo(sum / 4, 4);
    expect(klLoss(q, { mask: m, reduction: 'per-sample' }).dataSync()[0]).toBeCloseTo(sum / 2, 4);
    const none = klLoss(q, { mask: m, reduction: 'none' }).dataSync();
    expect(none[0]).toBeCloseTo(perSample[0], 4);
    expect(none[1]).toBeCloseTo(perSample[1], 4);
  });

  it('takes a latent grid [B, h, w, C] with a mask [B, h, w] or [B, h*w]', () => {
    const mean = tf.tensor4d(MEAN.flat(2).concat([0.1, 0.2, 0.3, 0.4]), [2, 2, 2, 2]);
    const logvar = tf.tensor4d(LOGVAR.flat(2).concat([-0.1, 0.2, 0.3, -0.4]), [2, 2, 2, 2]);
    const q = new DiagonalGaussian(mean, logvar);
    const maskGrid = tf.tensor3d([1, 0, 0, 1, 0, 0, 1, 1], [2, 2, 2]);
    const a = klLoss(q, { mask: maskGrid }).dataSync()[0];
    const b = klLoss(q, { mask: tf.reshape(maskGrid, [2, 4]) }).dataSync()[0];
    expect(a).toBeCloseTo(b, 6);
    // Unmasked: the same as the token layout [B, L, C].
    const tokens = new DiagonalGaussian(tf.reshape(q.mean, [2, 4, 2]), tf.reshape(q.logvar, [2, 4, 2]));
    expect(klLoss(q).dataSync()[0]).toBeCloseTo(klLoss(tokens).dataSync()[0], 6);
  });

  it('has the closed-form gradient 0.5 * (var - 1) / count with respect to logvar (unit-variance)', () => {
    const mean = tf.tensor3d(MEAN);
    const g = tf.grad((lv: tf.Tensor) => klLoss({ mean, logvar: lv } as DiagonalGaussian))(
      tf.tensor3d(LOGVAR),
    );
    const want = LOGVAR.flat(2).map((lv) => (0.5 * (Math.exp(lv) - 1)) / 6);
    Array.from(g.dataSync()).forEach((v, i) => {
      expect(v).toBeCloseTo(want[i], 5);
    });
  });

  it('rejects bad posteriors, forms, reductions and masks', () => {
    const q = post();
    expect(() => klLoss({} as DiagonalGaussian)).toThrow(/mean` and `logvar/);
    expect(() => klLoss({ mean: tf.zeros([2, 3]), logvar: tf.zeros([2, 3]) } as DiagonalGaussian)).toThrow(
      /\[B, L, C\]/,
    );
    expect(() => klLoss(q, { form: { fixedStd: 0 } })).toThrow(/fixedStd/);
    expect(() => klLoss(q, { form: 'gaussian' as never })).toThrow(/form must be/);
    expect(() => klLoss(q, { reduction: 'mean' as never })).toThrow(/reduction/);
    expect(() => klLoss(q, { mask: tf.zeros([2, 4]) })).toThrow(/mask must be \[2,3\]/);
  });

  it('leaks no tensor in forward + backward', () => {
    const mean = tf.tensor3d(MEAN);
    const logvar = tf.tensor3d(LOGVAR);
    const mask = tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    const before = tf.memory().numTensors;
    const gs = tf.grads((m: tf.Tensor, lv: tf.Tensor) =>
      klLoss({ mean: m, logvar: lv } as DiagonalGaussian, { form: 'standard', mask }),
    )([mean, logvar]);
    tf.dispose(gs);
    expect(tf.memory().numTensors).toBe(before);
  });
});
