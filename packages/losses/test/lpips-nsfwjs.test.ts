import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InceptionTrunk,
  Lpips,
  loadOfflineLpips,
  NSFWJS_INCEPTION_TRUNK_NAME,
  type NsfwjsInceptionSource,
  shardBytes,
} from '../src/index.node.js';
import type { FrozenConv2d } from '../src/lpips/frozen-conv.js';
import { readNsfwjsInceptionSource } from '../src/lpips/nsfwjs-files.node.js';
import { decodeManifestWeights } from '../src/lpips/nsfwjs-source.js';

let source: NsfwjsInceptionSource;
let trunk: InceptionTrunk;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  source = await readNsfwjsInceptionSource();
  trunk = new InceptionTrunk(source);
});

afterAll(() => trunk.dispose());

const f64Sum = (t: tf.Tensor): number => (t.dataSync() as Float32Array).reduce((a, v) => a + v, 0);

describe('nsfwjs InceptionV3 weights', () => {
  it('decodes uint8 weights as min + scale * q at the manifest offset', () => {
    const group = source.modelJson.weightsManifest[0];
    let offset = 0;
    const entry = group.weights.find((e) => {
      if (e.name === 'conv2d_1/kernel') return true;
      offset += e.shape.reduce((a, d) => a * d, 1);
      return false;
    });
    const q = entry?.quantization;
    expect(q?.dtype).toBe('uint8');
    // conv2d_1/kernel lies in the first shard (weights are listed alphabetically; 4 MiB per shard).
    const bytes = shardBytes(source.weightShards[0]);
    expect(bytes.length).toBe(4194304);
    const w = decodeManifestWeights(
      source.modelJson.weightsManifest,
      source.weightShards,
      new Set(['conv2d_1/kernel']),
    );
    const t = w.get('conv2d_1/kernel') as tf.Tensor;
    expect(t.shape).toEqual([3, 3, 3, 32]);
    const got = t.dataSync();
    for (let i = 0; i < got.length; i++) {
      expect(got[i]).toBeCloseTo((q?.min as number) + (q?.scale as number) * bytes[offset + i], 6);
    }
    // Regression values computed from the shard data.
    expect(f64Sum(t)).toBeCloseTo(-0.8222193415276706, 5);
    t.dispose();
  });

  it('rejects a wrong shard count and shards that are not base64', () => {
    const m = source.modelJson.weightsManifest;
    expect(() => decodeManifestWeights(m, source.weightShards.slice(1), new Set())).toThrow(
      /lists 6 shard files, got 5/,
    );
    expect(() => shardBytes('not a shard!')).toThrow(/neither base64 nor a shard module/);
    expect(() => decodeManifestWeights(m, source.weightShards, new Set(['nope/kernel']))).toThrow(
      /not in the manifest: nope/,
    );
  });
});

describe('InceptionTrunk (nsfwjs-inceptionv3-early)', () => {
  it('has the InceptionV3 tap channels and 50 BN-folded convs, with regression weight sums', () => {
    expect(trunk.name).toBe(NSFWJS_INCEPTION_TRUNK_NAME);
    expect(trunk.tapNames).toEqual(['activation_3', 'activation_5', 'mixed0', 'mixed2', 'mixed5']);
    expect(trunk.tapChannels).toEqual([64, 192, 256, 288, 768]);
    expect(trunk.inputScaling).toBe('none');
    expect(trunk.parameters()).toEqual([]);
    const sd = trunk.stateDict();
    const keys = Object.keys(sd);
    expect(keys.length).toBe(100);
    expect(sd['conv2d_1.weight'].shape).toEqual([32, 3, 3, 3]);
    expect(sd['conv2d_50.weight'].shape).toEqual([192, 768, 1, 1]);
    expect(sd['conv2d_46.weight'].shape).toEqual([160, 160, 7, 1]);
    // Regression values computed from the shard data (float64 sums of the folded weights).
    expect(f64Sum(sd['conv2d_1.weight'])).toBeCloseTo(-0.47941330913454294, 4);
    expect(f64Sum(sd['conv2d_1.bias'])).toBeCloseTo(8.249089151620865, 4);
    expect(f64Sum(sd['conv2d_50.weight'])).toBeCloseTo(-650.2814778848551, 2);
    const total = Object.values(sd).reduce((a, t) => a + f64Sum(t), 0);
    expect(total).toBeCloseTo(-7451.10413183819, 1);
    tf.dispose(Object.values(sd));
  });

  it('folds BatchNormalization exactly: conv2d_1 equals conv + BN(moving stats, eps 1e-3)', () => {
    const names = [
      'conv2d_1/kernel',
      'batch_normalization_1/beta',
      'batch_normalization_1/moving_mean',
      'batch_normalization_1/moving_variance',
    ];
    const w = decodeManifestWeights(source.modelJson.weightsManifest, source.weightShards, new Set(names));
    const conv = trunk.namedModules().find(([n]) => n === 'conv2d_1')?.[1] as FrozenConv2d;
    const x = tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
    const folded = conv.forward(x);
    const ref = tf.batchNorm(
      tf.conv2d(x, w.get('conv2d_1/kernel') as tf.Tensor4D, 2, 'valid'),
      w.get('batch_normalization_1/moving_mean') as tf.Tensor1D,
      w.get('batch_normalization_1/moving_variance') as tf.Tensor1D,
      w.get('batch_normalization_1/beta') as tf.Tensor1D,
      undefined,
      1e-3,
    );
    expect(folded.shape).toEqual([1, 4, 4, 32]);
    expect(tf.max(tf.abs(tf.sub(folded, ref))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([...w.values(), folded, ref]);
  });

  it('returns 5 finite post-ReLU taps of increasing depth on a 64x64 input, and matches the cpu backend', async () => {
    const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 12) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const taps = trunk.forward(x);
    expect(taps.map((t) => t.shape)).toEqual([
      [2, 29, 29, 64],
      [2, 12, 12, 192],
      [2, 5, 5, 256],
      [2, 5, 5, 288],
      [2, 2, 2, 768],
    ]);
    const vals = taps.map((t) => t.dataSync() as Float32Array);
    for (const v of vals) {
      expect(v.every(Number.isFinite)).toBe(true);
      expect(v.reduce((a, b) => Math.min(a, b), 0)).toBe(0);
      expect(v.reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(0);
    }
    tf.dispose(taps);
    expect(tf.memory().numTensors).toBe(before);
    expect(trunk.tapSizes(299, 299)).toEqual([
      [147, 147],
      [71, 71],
      [35, 35],
      [35, 35],
      [17, 17],
    ]);
    // The same graph on the reference cpu backend (pooling with 'same' padding included).
    const x1 = tf.slice(x, [0, 0, 0, 0], [1, 48, 48, 3]) as tf.Tensor4D;
    const wasm = trunk.forward(x1).map((t) => t.dataSync());
    await setupBackend({ backend: 'cpu' });
    try {
      const cpu = trunk.forward(x1).map((t) => t.dataSync());
      cpu.forEach((c, k) => {
        let err = 0;
        let mag = 0;
        c.forEach((v, i) => {
          err = Math.max(err, Math.abs(v - wasm[k][i]));
          mag = Math.max(mag, Math.abs(v));
        });
        expect(err).toBeLessThan(1e-4 * Math.max(1, mag));
      });
    } finally {
      await setupBackend({ backend: 'wasm' });
    }
  });

  it('takes custom taps up to mixed5, named in its name, and refuses others', () => {
    const t = new InceptionTrunk(source, { taps: ['activation_1', 'mixed1'] });
    expect(t.name).toBe('nsfwjs-inceptionv3-early[activation_1,mixed1]');
    expect(t.tapChannels).toEqual([32, 288]);
    expect(Object.keys(t.stateDict()).length).toBe(2 * 19);
    t.dispose();
    expect(() => new InceptionTrunk(source, { taps: ['mixed6'] })).toThrow(/past mixed5/);
    expect(() => new InceptionTrunk(source, { taps: ['nope'] })).toThrow(/no layer 'nope'/);
    expect(() => new InceptionTrunk(source, { taps: ['mixed1', 'mixed0'] })).toThrow(/out of order/);
    expect(() => trunk.forward(tf.zeros([1, 42, 64, 3]) as tf.Tensor4D)).toThrow(/at least 43 px/);
  });

  it('runs LPIPS with uniform lin weights: 0 on x = x, symmetric, gradients finite, no leak', () => {
    const lpips = new Lpips(trunk, { lin: 'uniform' });
    const x = tf.randomUniform([2, 48, 48, 3], -1, 1, 'float32', 13) as tf.Tensor4D;
    const y = tf.randomUniform([2, 48, 48, 3], -1, 1, 'float32', 14) as tf.Tensor4D;
    const r = lpips.compute(x, y);
    expect(r.trunkName).toBe('nsfwjs-inceptionv3-early');
    expect(r.linWeights).toBe('uniform');
    const xy = r.distance.dataSync();
    const yx = lpips.forward(y, x).dataSync();
    xy.forEach((v, i) => {
      expect(v).toBeGreaterThan(0);
      expect(yx[i]).toBeCloseTo(v, 4);
    });
    expect(Array.from(lpips.forward(x, x).dataSync())).toEqual([0, 0]);
    const before = tf.memory().numTensors;
    const g = tf.grad((t: tf.Tensor) => tf.mean(lpips.forward(t as tf.Tensor4D, y)))(x);
    const gv = g.dataSync() as Float32Array;
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(gv).every(Number.isFinite)).toBe(true);
    expect(gv.reduce((a, v) => Math.max(a, Math.abs(v)), 0)).toBeGreaterThan(0);
  });
});

describe('LPIPS on 28 px images (the offline trunk takes >= 43 px)', () => {
  it('upsamples them to 64 px by default: a finite value equal to upsampling by hand, no leak', () => {
    const auto = new Lpips(trunk, { lin: 'uniform' });
    const none = new Lpips(trunk, { lin: 'uniform', resize: 'none' });
    expect(auto.trunkInputSize(28, 28)).toEqual([64, 64]);
    expect(auto.trunkInputSize(48, 48)).toEqual([48, 48]);
    const x = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 21) as tf.Tensor4D;
    const y = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 22) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const got = auto.forward(x, y);
    const xs = tf.image.resizeBilinear(x, [64, 64]);
    const ys = tf.image.resizeBilinear(y, [64, 64]);
    const want = none.forward(xs, ys);
    const r = auto.compute(x, y);
    expect(r.trunkInputSize).toEqual([64, 64]);
    const g = got.dataSync();
    g.forEach((v, i) => {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
      expect(Math.abs(v - want.dataSync()[i])).toBeLessThan(1e-6);
      expect(Math.abs(v - r.distance.dataSync()[i])).toBeLessThan(1e-6);
    });
    const grad = tf.grad((t: tf.Tensor) => tf.mean(auto.forward(t as tf.Tensor4D, y)))(x);
    expect(grad.shape).toEqual([2, 28, 28, 3]);
    expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([got, xs, ys, want, r.distance, grad]);
    expect(tf.memory().numTensors).toBe(before);
    // resize: 'none' keeps the old refusal, naming the smallest size.
    expect(() => none.forward(x, y)).toThrow(
      'nsfwjs-inceptionv3-early: input 28x28 is too small; every side must be at least 43 px',
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('loadOfflineLpips passes resize through and releases the trunk on a bad option', async () => {
    const before = tf.memory().numTensors;
    const strict = await loadOfflineLpips({ resize: 'none' });
    expect(strict.resize).toBe('none');
    const x = tf.zeros([1, 28, 28, 3]) as tf.Tensor4D;
    expect(() => strict.forward(x, x)).toThrow(/at least 43 px/);
    strict.dispose();
    await expect(loadOfflineLpips({ upsampleTo: -1 })).rejects.toThrow(
      /upsampleTo must be a positive integer/,
    );
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('loadOfflineLpips', () => {
  it('builds the offline default from the installed nsfwjs package, labelled honestly', async () => {
    const before = tf.memory().numTensors;
    const lpips = await loadOfflineLpips();
    expect(lpips.trunkName).toBe('nsfwjs-inceptionv3-early');
    expect(lpips.resize).toBe('auto');
    expect(lpips.upsampleTo).toBe(64);
    expect(lpips.linWeights).toBe('uniform');
    expect(Object.keys(lpips.stateDictShapes())).toEqual(
      [0, 1, 2, 3, 4].map((k) => `lin${k}.model.1.weight`),
    );
    lpips.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
