import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, type AdamWState, createRng, setupBackend } from '../src/index.node.js';
import { Affine } from './affine.js';
import { expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

interface Hyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
}

/** torch.optim.AdamW in float64; `grads[t]` null means "no gradient at step t". */
function adamwRef(p0: number[], grads: (number[] | null)[], h: Hyper): number[] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let t = 0;
  for (const g of grads) {
    if (!g) continue;
    t++;
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - h.lr * h.wd;
      m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
      v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
      const mhat = m[i] / (1 - h.b1 ** t);
      const vhat = v[i] / (1 - h.b2 ** t);
      p[i] -= (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
    }
  }
  return p;
}

const f32 = (a: number[]) => Array.from(Float32Array.from(a));
const W0 = [
  [0.5, -1.25, 2],
  [0.75, 0.125, -0.5],
];
const B0 = [0.25, -0.75, 1.5];
const GW = [f32([0.3, -0.2, 0.05, 1.1, -0.7, 0.01]), f32([-0.4, 0.25, 0.6, -0.9, 0.33, 0.02])];
const GB = [f32([0.12, -0.5, 0.8]), f32([0.2, 0.1, -0.3])];

function expectClose(actual: ArrayLike<number>, expected: number[], tol: number) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(tol);
}

describe('AdamW', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  for (const wd of [0, 0.1]) {
    it(`matches hand-computed torch AdamW over two steps (weightDecay ${wd})`, () => {
      const m = new Affine(W0, B0);
      const h: Hyper = { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd };
      const opt = new AdamW({
        params: m.namedParameters(),
        lr: h.lr,
        weightDecay: wd,
        noDecay: new Set(['bias']),
      });
      for (let s = 0; s < 2; s++) {
        const gw = tf.tensor2d(GW[s], [2, 3]);
        const gb = tf.tensor1d(GB[s]);
        opt.step({ weight: gw, bias: gb });
        tf.dispose([gw, gb]);
      }
      expectClose(m.weight.dataSync(), adamwRef(W0.flat(), GW, h), 2e-6);
      expectClose(m.bias.dataSync(), adamwRef(B0, GB, { ...h, wd: 0 }), 2e-6);
      if (wd > 0) {
        // The decay must be visible at this tolerance, or the check above proves nothing about it.
        const noDecay = adamwRef(W0.flat(), GW, { ...h, wd: 0 });
        expect(Math.abs(m.weight.dataSync()[2] - noDecay[2])).toBeGreaterThan(1e-3);
      }
      expect(opt.stepCount).toBe(2);
      opt.dispose();
      m.dispose();
    });
  }

  it('follows torch per-parameter step counts when a parameter has no gradient', () => {
    const m = new Affine(W0, B0);
    const h: Hyper = { lr: 0.05, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.2 };
    const opt = new AdamW({
      params: m.namedParameters(),
      lr: h.lr,
      betas: [h.b1, h.b2],
      eps: h.eps,
      weightDecay: h.wd,
    });
    const gb = [null, GB[0], GB[1]];
    const gw = [GW[0], GW[1], GW[0]];
    for (let s = 0; s < 3; s++) {
      const g: Record<string, tf.Tensor> = { weight: tf.tensor2d(gw[s], [2, 3]) };
      if (gb[s]) g.bias = tf.tensor1d(gb[s] as number[]);
      opt.step(g);
      tf.dispose(Object.values(g));
    }
    expectClose(m.weight.dataSync(), adamwRef(W0.flat(), gw, h), 2e-6);
    expectClose(m.bias.dataSync(), adamwRef(B0, gb, h), 2e-6);
    expect(opt.getState().json.paramSteps).toEqual({ weight: 3, bias: 2 });
    opt.dispose();
    m.dispose();
  });

  it('forModule leaves the no-decay group untouched by decay', () => {
    const m = new Affine(W0, B0);
    const opt = AdamW.forModule(m, { lr: 0.5, weightDecay: 0.1 });
    expect([...opt.decayNames()]).toEqual(['weight']);
    // Zero gradients: Adam's update is exactly 0, so only the decoupled decay can move a parameter.
    const g = { weight: tf.zeros([2, 3]), bias: tf.zeros([3]) };
    opt.step(g);
    opt.step(g);
    tf.dispose(Object.values(g));
    expect(Array.from(m.bias.dataSync())).toEqual(f32(B0));
    expectClose(
      m.weight.dataSync(),
      W0.flat().map((x) => x * 0.95 * 0.95),
      1e-6,
    );
    opt.dispose();
    m.dispose();
  });

  it('lr passed to step or set on the optimiser is the one used', () => {
    const m = new Affine(W0, B0);
    const opt = new AdamW({ params: m.namedParameters(), lr: 1, weightDecay: 0 });
    const g = { weight: tf.ones([2, 3]), bias: tf.ones([3]) };
    opt.step(g, 0.01); // first Adam step moves every entry by lr * sign(g)
    expectClose(
      m.bias.dataSync(),
      B0.map((b) => b - 0.01),
      1e-6,
    );
    expect(opt.lr).toBe(0.01);
    opt.lr = 0;
    opt.step(g);
    expectClose(
      m.bias.dataSync(),
      B0.map((b) => b - 0.01),
      1e-6,
    );
    tf.dispose(Object.values(g));
    opt.dispose();
    m.dispose();
  });

  it('round-trips its state exactly and rejects mismatched state before assigning anything', () => {
    const a = new Affine(W0, B0);
    const b = new Affine(W0, B0);
    const optA = AdamW.forModule(a, { lr: 0.1 });
    const optB = AdamW.forModule(b, { lr: 0.3, betas: [0.5, 0.5] });
    const step = (opt: AdamW, s: number) => {
      const g = { weight: tf.tensor2d(GW[s % 2], [2, 3]), bias: tf.tensor1d(GB[s % 2]) };
      opt.step(g);
      tf.dispose(Object.values(g));
    };
    step(optA, 0);
    step(optA, 1);
    step(optB, 0);
    const before = optB.getState();
    const beforeVals = Object.fromEntries(
      Object.entries(before.tensors).map(([k, t]) => [k, Array.from(t.dataSync())]),
    );

    const stA = optA.getState();
    expect(Object.keys(stA.tensors).sort()).toEqual([
      'exp_avg.bias',
      'exp_avg.weight',
      'exp_avg_sq.bias',
      'exp_avg_sq.weight',
    ]);
    const bad: AdamWState = {
      tensors: { ...stA.tensors, 'exp_avg.weight': tf.zeros([3, 2]) },
      json: stA.json,
    };
    expect(() => optB.setState(bad)).toThrow(/'exp_avg.weight' has shape \[3,2\], expected \[2,3\]/);
    const missing: AdamWState = {
      tensors: { 'exp_avg.weight': stA.tensors['exp_avg.weight'] },
      json: stA.json,
    };
    expect(() => optB.setState(missing)).toThrow(/Missing: .*exp_avg.bias/);
    const extra: AdamWState = { tensors: { ...stA.tensors, 'exp_avg.nope': tf.zeros([1]) }, json: stA.json };
    expect(() => optB.setState(extra)).toThrow(/Unexpected: exp_avg.nope/);
    expect(() => optB.setState({ tensors: stA.tensors, json: { ...stA.json, betas: [0.9, 1.5] } })).toThrow(
      /betas/,
    );
    // Nothing of the rejected states reached optB.
    const after = optB.getState();
    for (const [k, t] of Object.entries(after.tensors))
      expect(Array.from(t.dataSync())).toEqual(beforeVals[k]);
    expect(after.json).toEqual(before.json);

    b.loadStateDict(a.stateDict());
    optB.setState(stA);
    expect(optB.getState().json).toEqual(stA.json);
    step(optA, 2);
    step(optB, 2);
    expect(Array.from(b.weight.dataSync())).toEqual(Array.from(a.weight.dataSync()));
    expect(Array.from(b.bias.dataSync())).toEqual(Array.from(a.bias.dataSync()));
    tf.dispose([
      ...Object.values(stA.tensors),
      ...Object.values(before.tensors),
      ...Object.values(after.tensors),
    ]);
    tf.dispose([bad.tensors['exp_avg.weight'], extra.tensors['exp_avg.nope']]);
    for (const x of [optA, optB, a, b]) x.dispose();
  });

  it('keeps tensor memory flat across steps', () => {
    const m = new Affine(W0, B0);
    const opt = AdamW.forModule(m, { lr: 0.1 });
    const g = { weight: tf.tensor2d(GW[0], [2, 3]), bias: tf.tensor1d(GB[0]) };
    opt.step(g);
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.step(g);
    expect(tf.memory().numTensors).toBe(n0);
    tf.dispose(Object.values(g));
    opt.dispose();
    m.dispose();
  });

  it('rejects bad input naming the argument, before changing anything', () => {
    const m = new Affine(W0, B0);
    expect(() => new AdamW({ params: [], lr: 0.1 })).toThrow(/params must be a non-empty array/);
    expect(() => new AdamW({ params: m.namedParameters(), lr: -1 })).toThrow(
      /lr must be a finite number >= 0/,
    );
    expect(() => new AdamW({ params: m.namedParameters(), lr: 1, betas: [0.9, 1] })).toThrow(/betas/);
    expect(() => new AdamW({ params: m.namedParameters(), lr: 1, noDecay: new Set(['wieght']) })).toThrow(
      /noDecay names unknown params: wieght/,
    );
    const opt = AdamW.forModule(m, { lr: 0.1 });
    const w = Array.from(m.weight.dataSync());
    const good = tf.zeros([3]);
    const wrong = tf.zeros([3, 2]);
    expect(() => opt.step({ bias: good, weight: wrong })).toThrow(
      /grads\['weight'\] has shape \[3,2\], expected \[2,3\]/,
    );
    expect(() => opt.step({ bias: good, other: good })).toThrow(
      /'other', which is not an optimised parameter/,
    );
    expect(() => opt.step({ bias: good }, Number.NaN)).toThrow(/lr must be a finite number/);
    expect(opt.stepCount).toBe(0);
    expect(Array.from(m.weight.dataSync())).toEqual(w);
    opt.dispose();
    expect(() => opt.step({ bias: good })).toThrow(/disposed/);
    tf.dispose([good, wrong]);
    m.dispose();
  });
});

describe('AdamW memory', () => {
  it('frees everything it allocated on dispose', async () => {
    await setupBackend({ backend: 'wasm' });
    const p = tf.variable(tf.ones([3, 4]));
    const before = tf.memory().numTensors;
    const opt = new AdamW({ params: [['p', p]], lr: 0.1 });
    expect(tf.memory().numTensors).toBe(before + 2); // exp_avg and exp_avg_sq only
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });
});

describe('AdamW on wasm (one kernel per parameter)', () => {
  it('runs our kernel there', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(tf.getKernel('LdmaeAdamW', 'wasm')).toBeDefined();
    expect(tf.getKernel('LdmaeAdamW', 'cpu')).toBeUndefined();
  });

  it('gives the same bits as the tensor ops on cpu over several steps, with and without decay', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(11);
      // 33 x 17 = 561 numbers: 140 blocks of four lanes and a tail of one.
      const w = tf.variable(rng.normal([33, 17]));
      const b = tf.variable(tf.concat([rng.normal([5]), tf.zeros([3]), tf.fill([2], 1e30)]));
      const opt = new AdamW({
        params: [
          ['w', w],
          ['b', b],
        ],
        lr: 3e-3,
        betas: [0.9, 0.95],
        weightDecay: 0.05,
        noDecay: new Set(['b']),
      });
      for (let s = 0; s < 4; s++) {
        tf.tidy(() => {
          // Zero, tiny and huge gradients as well as ordinary ones.
          const gb = tf.concat([rng.normal([5]), tf.zeros([3]), tf.tensor1d([1e-30, -1e20])]);
          opt.step({ w: tf.mul(rng.normal([33, 17]), s + 1), b: gb }, 3e-3 * (s + 1));
        });
      }
      const { tensors } = opt.getState();
      const out = [w.clone(), b.clone(), ...Object.values(tensors)];
      opt.dispose();
      tf.dispose([w, b]);
      return out;
    });
  });
});
