import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EMA, Module, setupBackend } from '../src/index.node.js';

/** A child with a 'linear'-layout weight (internal [in, out]) and a bias. */
class Affine extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(w: number[][], b: number[]) {
    super();
    this.weight = this.registerParameter('weight', tf.tensor2d(w), { layout: 'linear' });
    this.bias = this.registerParameter('bias', tf.tensor1d(b));
  }
}

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
});
