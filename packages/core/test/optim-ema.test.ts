import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EMA, Module, setupBackend } from '../src/index.node.js';
import { Affine } from './affine.js';

class Net extends Module {
  readonly fc: Affine;
  constructor(w: number[][], b: number[]) {
    super();
    this.fc = this.registerModule('fc', new Affine(w, b));
    this.registerBuffer('scale', tf.tensor1d([2, 3]));
  }
}

const W0 = [
  [1, 2, 3],
  [4, 5, 6],
];
const B0 = [0.5, -0.5, 1];

describe('EMA', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  it('after k updates toward fixed weights equals d^k e0 + (1 - d^k) p', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0.9 });
    const target = [-1, 0.25, 2, 8, -3, 0.5];
    net.fc.weight.assign(tf.tensor2d(target, [2, 3]));
    const k = 7;
    for (let i = 0; i < k; i++) ema.update(net);
    expect(ema.updates).toBe(k);
    const dk = 0.9 ** k;
    const shadow = new Map(ema.namedShadows()).get('fc.weight')!.dataSync();
    const want = W0.flat().map((e0, i) => dk * e0 + (1 - dk) * target[i]);
    for (let i = 0; i < want.length; i++) expect(shadow[i]).toBeCloseTo(want[i], 5);
    ema.dispose();
    net.dispose();
  });

  it('tracks changing weights as the float64 recursion does', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0.75 });
    let ref = B0.slice();
    for (let t = 1; t <= 5; t++) {
      const p = B0.map((b, i) => b * t + i);
      net.fc.bias.assign(tf.tensor1d(p));
      ema.update();
      ref = ref.map((e, i) => 0.75 * e + 0.25 * p[i]);
    }
    const got = new Map(ema.namedShadows()).get('fc.bias')!.dataSync();
    for (let i = 0; i < ref.length; i++) expect(got[i]).toBeCloseTo(ref[i], 5);
    ema.dispose();
    net.dispose();
  });

  it('stateDict speaks PyTorch layout, includes buffers, and leaves the live weights in place', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0.5 });
    net.fc.weight.assign(tf.zeros([2, 3]));
    ema.update(); // ema weight = W0 / 2
    const n0 = tf.memory().numTensors;
    const sd = ema.stateDict();
    expect(Object.keys(sd).sort()).toEqual(['fc.bias', 'fc.weight', 'scale']);
    expect(sd['fc.weight'].shape).toEqual([3, 2]); // [out, in]
    const wT = [
      [0.5, 2],
      [1, 2.5],
      [1.5, 3],
    ];
    expect(sd['fc.weight'].arraySync()).toEqual(wT);
    expect(Array.from(sd.scale.dataSync())).toEqual([2, 3]);
    expect(Array.from(net.fc.weight.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose(Object.values(sd));
    expect(tf.memory().numTensors).toBe(n0);

    // Round trip into a second EMA whose module holds other values.
    const other = new Net(
      [
        [0, 0, 0],
        [0, 0, 0],
      ],
      [0, 0, 0],
    );
    const ema2 = new EMA(other, { decay: 0.5 });
    const sd1 = ema.stateDict();
    ema2.loadStateDict(sd1);
    expect(Array.from(new Map(ema2.namedShadows()).get('fc.weight')!.dataSync())).toEqual([
      0.5, 1, 1.5, 2, 2.5, 3,
    ]);
    expect(Array.from(other.fc.weight.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);

    // A wrong shape is rejected before anything changes.
    const bad = { ...sd1, 'fc.weight': tf.zeros([2, 3]) };
    expect(() => ema2.loadStateDict(bad)).toThrow(/'fc.weight' has shape \[2,3\], expected \[3,2\]/);
    expect(() => ema2.loadStateDict({ 'fc.bias': sd1['fc.bias'] })).toThrow(/Missing: fc.weight/);
    expect(() => ema2.loadStateDict({ ...sd1, extra: sd1.scale })).toThrow(/Unexpected: extra/);
    expect(Array.from(new Map(ema2.namedShadows()).get('fc.weight')!.dataSync())).toEqual([
      0.5, 1, 1.5, 2, 2.5, 3,
    ]);
    tf.dispose([...Object.values(sd1), bad['fc.weight']]);

    // copyTo and withWeights.
    const live = Array.from(net.fc.weight.dataSync());
    const inside = ema.withWeights(() => Array.from(net.fc.weight.dataSync()));
    expect(inside).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(Array.from(net.fc.weight.dataSync())).toEqual(live);
    ema.copyTo(net);
    expect(Array.from(net.fc.weight.dataSync())).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    for (const x of [ema, ema2, net, other]) x.dispose();
  });

  it('keeps memory flat and rejects mismatched modules and bad decay', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0.99 });
    ema.update();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) ema.update();
    expect(tf.memory().numTensors).toBe(n0);
    const small = new Affine([[1]], [1]);
    expect(() => ema.update(small)).toThrow(/parameter 'weight' is not tracked by the EMA/);
    expect(() => new EMA(net, { decay: 1.5 })).toThrow(/decay must be a number in \[0, 1\]/);
    ema.dispose();
    expect(() => ema.update()).toThrow(/disposed/);
    small.dispose();
    net.dispose();
  });

  it('frees every tensor it made on dispose (shadows and stored weights)', () => {
    const net = new Net(W0, B0);
    const n0 = tf.memory().numTensors;
    const ema = new EMA(net, { decay: 0.9 });
    ema.update();
    ema.store();
    ema.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    net.dispose();
  });

  it('warms the decay up as min(decay, (1 + n) / (10 + n)), and keeps the setting in its state', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0.99, warmup: true });
    expect(ema.timeConstant).toBeCloseTo(100, 10);
    const decays: number[] = [];
    let e = Float64Array.from(W0.flat());
    const target = [-1, 0.25, 2, 8, -3, 0.5];
    net.fc.weight.assign(tf.tensor2d(target, [2, 3]));
    for (let n = 0; n < 1000; n++) {
      decays.push(ema.currentDecay);
      const d = Math.min(0.99, (1 + n) / (10 + n));
      e = e.map((v, i) => d * v + (1 - d) * target[i]);
      ema.update();
    }
    expect(decays.slice(0, 3)).toEqual([1 / 10, 2 / 11, 3 / 12]);
    expect(decays.at(-1)).toBe(0.99);
    const got = ema
      .namedShadows()
      .find(([k]) => k === 'fc.weight')![1]
      .dataSync();
    for (let i = 0; i < 6; i++) expect(got[i]).toBeCloseTo(e[i], 4);
    expect(ema.getStateJson()).toEqual({ decay: 0.99, updates: 1000, warmup: true });
    const fresh = new EMA(net, { decay: 0.5 });
    fresh.setStateJson(ema.getStateJson());
    expect([fresh.warmup, fresh.currentDecay]).toEqual([true, 0.99]);
    expect(() => fresh.setStateJson({ decay: 0.9, updates: 1, warmup: 'yes' as never })).toThrow(
      /warmup must be a boolean/,
    );
    for (const x of [ema, fresh, net]) x.dispose();
  });

  it('withWeights takes an async function and puts the live weights back when it settles', async () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0 });
    net.fc.bias.assign(tf.tensor1d([7, 8, 9]));
    ema.update(); // the average is now the current weights
    net.fc.bias.assign(tf.tensor1d([1, 1, 1]));
    const n0 = tf.memory().numTensors;
    const seen = await ema.withWeights(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return Array.from(net.fc.bias.dataSync());
    });
    expect(seen).toEqual([7, 8, 9]);
    expect(Array.from(net.fc.bias.dataSync())).toEqual([1, 1, 1]);
    await expect(
      ema.withWeights(async () => {
        throw new Error('sampling failed');
      }),
    ).rejects.toThrow('sampling failed');
    expect(Array.from(net.fc.bias.dataSync())).toEqual([1, 1, 1]);
    expect(tf.memory().numTensors).toBe(n0);
    for (const x of [ema, net]) x.dispose();
  });

  it('store / copyTo / restore swap the weights around async work', () => {
    const net = new Net(W0, B0);
    const ema = new EMA(net, { decay: 0 });
    net.fc.bias.assign(tf.tensor1d([7, 8, 9]));
    ema.update();
    net.fc.bias.assign(tf.tensor1d([1, 1, 1]));
    const n0 = tf.memory().numTensors;
    ema.store();
    expect(() => ema.store()).toThrow(/stored already/);
    ema.copyTo();
    expect(Array.from(net.fc.bias.dataSync())).toEqual([7, 8, 9]);
    ema.restore();
    expect(Array.from(net.fc.bias.dataSync())).toEqual([1, 1, 1]);
    expect(() => ema.restore()).toThrow(/nothing is stored/);
    expect(tf.memory().numTensors).toBe(n0);
    for (const x of [ema, net]) x.dispose();
  });
});
