import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { KerasGraph, type KerasModelSource, kerasModelLayers } from '../src/index.js';
import { FrozenConv2d } from '../src/lpips/frozen-conv.js';
import type { KerasLayerJson } from '../src/lpips/nsfwjs-source.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

const layer = (
  name: string,
  cls: string,
  config: Record<string, unknown>,
  ins: string[],
): KerasLayerJson => ({
  name,
  class_name: cls,
  config: { name, ...config },
  inbound_nodes: ins.length ? [ins.map((i) => [i, 0, 0, {}])] : [],
});

/**
 * input(3) -> conv_a 3x3 'same' + bias -> bn_a -> act_a (relu) -> { conv_b 1x1 stride 2 'valid' relu,
 * no bias ; pool_a avg 3x3 stride 2 'same' ; pool_m max 2x2 stride 2 'valid' } -> cat, then a Dense.
 */
const LAYERS: KerasLayerJson[] = [
  layer('input_1', 'InputLayer', { batch_input_shape: [null, null, null, 3] }, []),
  layer(
    'conv_a',
    'Conv2D',
    { strides: [1, 1], padding: 'same', activation: 'linear', use_bias: true, dilation_rate: [1, 1] },
    ['input_1'],
  ),
  layer('bn_a', 'BatchNormalization', { axis: 3, epsilon: 1e-3, center: true, scale: true }, ['conv_a']),
  layer('act_a', 'Activation', { activation: 'relu' }, ['bn_a']),
  layer('conv_b', 'Conv2D', { strides: 2, padding: 'valid', activation: 'relu', use_bias: false }, ['act_a']),
  layer('pool_a', 'AveragePooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'same' }, ['act_a']),
  layer('pool_m', 'MaxPooling2D', { pool_size: [2, 2], padding: 'valid' }, ['act_a']),
  layer('cat', 'Concatenate', { axis: -1 }, ['conv_b', 'pool_a', 'pool_m']),
  layer('dense_1', 'Dense', { units: 2 }, ['cat']),
];

/** The weights, as the reference computation uses them. */
function makeWeights(): Record<string, tf.Tensor> {
  return {
    'conv_a/kernel': tf.randomNormal([3, 3, 3, 4], 0, 0.5, 'float32', 1),
    'conv_a/bias': tf.randomNormal([4], 0, 0.5, 'float32', 2),
    'bn_a/gamma': tf.randomUniform([4], 0.5, 1.5, 'float32', 3),
    'bn_a/beta': tf.randomNormal([4], 0, 0.5, 'float32', 4),
    'bn_a/moving_mean': tf.randomNormal([4], 0, 0.5, 'float32', 5),
    'bn_a/moving_variance': tf.randomUniform([4], 0.2, 2, 'float32', 6),
    'conv_b/kernel': tf.randomNormal([1, 1, 4, 2], 0, 0.5, 'float32', 7),
  };
}

/** A model.json with the weights in a float32 manifest of one group split over two shards. */
function makeSource(w: Record<string, tf.Tensor>, layers = LAYERS): KerasModelSource {
  const names = Object.keys(w).sort();
  const bytes = new Uint8Array(names.reduce((a, n) => a + w[n].size * 4, 0));
  let o = 0;
  for (const n of names) {
    bytes.set(new Uint8Array((w[n].dataSync() as Float32Array).slice().buffer), o);
    o += w[n].size * 4;
  }
  const cut = 52; // not on a weight boundary
  const shard2 = bytes.slice(cut);
  return {
    modelJson: {
      modelTopology: { model_config: { class_name: 'Model', config: { layers } } },
      weightsManifest: [
        {
          paths: ['group1-shard1of2', 'group1-shard2of2'],
          weights: names.map((name) => ({ name, shape: w[name].shape, dtype: 'float32' as const })),
        },
      ],
    },
    // One shard as bytes, one as base64 text.
    weightShards: [bytes.slice(0, cut), Buffer.from(shard2).toString('base64')],
  };
}

/** The same network written with tfjs ops, without folding. */
function reference(w: Record<string, tf.Tensor>, x: tf.Tensor4D): Record<string, tf.Tensor4D> {
  const conv = tf.add(tf.conv2d(x, w['conv_a/kernel'] as tf.Tensor4D, 1, 'same'), w['conv_a/bias']);
  const bn = tf.batchNorm(
    conv as tf.Tensor4D,
    w['bn_a/moving_mean'] as tf.Tensor1D,
    w['bn_a/moving_variance'] as tf.Tensor1D,
    w['bn_a/beta'] as tf.Tensor1D,
    w['bn_a/gamma'] as tf.Tensor1D,
    1e-3,
  );
  const act = tf.relu(bn);
  const convB = tf.relu(tf.conv2d(act, w['conv_b/kernel'] as tf.Tensor4D, 2, 'valid'));
  const poolA = tf.avgPool(act, 3, 2, 'same');
  const poolM = tf.maxPool(act, 2, 2, 'valid');
  return {
    act_a: act,
    conv_b: convB,
    pool_a: poolA,
    pool_m: poolM,
  };
}

function referenceCat(w: Record<string, tf.Tensor>, x: tf.Tensor4D): tf.Tensor4D {
  const r = reference(w, x);
  return tf.concat([r.conv_b, r.pool_a, r.pool_m], 3);
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('KerasGraph on a hand-written Keras model', () => {
  it('lists the layers with their inbound names in order', () => {
    const w = makeWeights();
    const layers = kerasModelLayers(makeSource(w));
    expect(layers.map((l) => l.name)).toEqual(LAYERS.map((l) => l.name));
    expect(layers[7]).toMatchObject({ className: 'Concatenate', inbound: ['conv_b', 'pool_a', 'pool_m'] });
    tf.dispose(Object.values(w));
  });

  it('matches conv + BatchNorm + ReLU, pooling and concat written by hand, with fused and frozen convs', () => {
    const w = makeWeights();
    const source = makeSource(w);
    const x = tf.randomUniform([2, 9, 7, 3], -1, 1, 'float32', 8) as tf.Tensor4D;
    const ref = tf.tidy(() => reference(w, x));
    // pool_m is 4x3 and the others 5x4 at 9x7: concat needs equal sizes, so compare it at 8x8.
    const x8 = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
    const ref8 = tf.tidy(() => referenceCat(w, x8));
    const before = tf.memory().numTensors;
    const fused = new KerasGraph(source, { outputs: ['cat'] });
    const frozen: FrozenConv2d[] = [];
    const plain = new KerasGraph(source, {
      outputs: ['cat'],
      conv: (s) => {
        const c = new FrozenConv2d(
          s.kernel.shape[2],
          s.kernel.shape[3],
          [s.kernel.shape[0], s.kernel.shape[1]],
          {
            stride: s.stride,
            padding: s.padding,
            bias: s.bias !== null,
            init: 'zeros',
          },
        );
        c.setWeights(s.kernel, s.bias ?? undefined);
        tf.dispose([s.kernel, ...(s.bias ? [s.bias] : [])]);
        frozen.push(c);
        return {
          forward: (t) => (s.relu ? tf.relu(c.forward(t)) : c.forward(t)),
          dispose: () => c.dispose(),
        };
      },
    });
    // bn_a and act_a fold into conv_a; conv_b keeps its own ReLU.
    expect(fused.nodes.map((n) => `${n.kind}:${n.name}`)).toEqual([
      'input:input_1',
      'conv:conv_a',
      'conv:conv_b',
      'pool:pool_a',
      'pool:pool_m',
      'concat:cat',
    ]);
    expect(fused.resolve('act_a')).toBe('conv_a');
    expect(fused.has('bn_a') && !fused.has('dense_1')).toBe(true);
    expect(['act_a', 'conv_b', 'cat'].map((n) => fused.channels(n))).toEqual([4, 2, 10]);
    expect(frozen.map((c) => c.bias !== null)).toEqual([true, false]);
    const sizes = fused.outputSizes(9, 7);
    expect(['act_a', 'conv_b', 'pool_a', 'pool_m', 'cat'].map((n) => sizes.get(n))).toEqual([
      [9, 7],
      [5, 4],
      [5, 4],
      [4, 3],
      [5, 4],
    ]);
    for (const g of [fused, plain]) {
      const [act, b, a] = g.run(x, 'pool_a', ['act_a', 'conv_b', 'pool_a']);
      expect(maxDiff(act, ref.act_a)).toBeLessThan(1e-5);
      expect(maxDiff(b, ref.conv_b)).toBeLessThan(1e-5);
      expect(maxDiff(a, ref.pool_a)).toBeLessThan(1e-5);
      const [m] = g.run(x, 'pool_m');
      expect(maxDiff(m, ref.pool_m)).toBeLessThan(1e-5);
      const [cat] = g.run(x8, 'cat');
      expect(maxDiff(cat, ref8)).toBeLessThan(1e-5);
      expect(tf.tidy(() => tf.min(act).dataSync()[0])).toBe(0);
      tf.dispose([act, b, a, m, cat]);
    }
    fused.dispose();
    plain.dispose();
    fused.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...Object.values(w), ...Object.values(ref), x, x8, ref8]);
  });

  it('passes gradients to the input equal to those of the hand-written network, without leaks', () => {
    const w = makeWeights();
    const g = new KerasGraph(makeSource(w), { outputs: ['cat'] });
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 10) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const mine = tf.grad((t: tf.Tensor) => tf.sum(tf.square(g.run(t as tf.Tensor4D, 'cat')[0])))(x);
    const want = tf.grad((t: tf.Tensor) => tf.sum(tf.square(referenceCat(w, t as tf.Tensor4D))))(x);
    expect(tf.tidy(() => tf.max(tf.abs(want)).dataSync()[0])).toBeGreaterThan(0);
    expect(maxDiff(mine, want)).toBeLessThan(1e-4);
    tf.dispose([mine, want]);
    expect(tf.memory().numTensors).toBe(before);
    g.dispose();
    tf.dispose([...Object.values(w), x]);
  });

  it('rejects what it cannot read or run, naming the layer, and frees what it decoded', () => {
    const w = makeWeights();
    const source = makeSource(w);
    const before = tf.memory().numTensors;
    const withLayers = (layers: KerasLayerJson[]): KerasModelSource => ({
      ...source,
      modelJson: {
        ...source.modelJson,
        modelTopology: { model_config: { class_name: 'Model', config: { layers } } },
      },
    });
    expect(() => new KerasGraph({ modelJson: {} as never, weightShards: [] }, { owner: 'Mine' })).toThrow(
      /^Mine: source must be .*tfjs layers model.json/,
    );
    expect(() => new KerasGraph(source)).toThrow(/layer 'dense_1' of class Dense is not supported/);
    expect(() => new KerasGraph(source, { outputs: ['nope'] })).toThrow(/no layer 'nope' in the model/);
    expect(() => kerasModelLayers(withLayers([LAYERS[1], LAYERS[0]]))).toThrow(
      /'conv_a' reads 'input_1', which is not defined before it/,
    );
    const shared = { ...LAYERS[3], inbound_nodes: [...LAYERS[3].inbound_nodes, ...LAYERS[3].inbound_nodes] };
    expect(() => kerasModelLayers(withLayers([...LAYERS.slice(0, 3), shared]))).toThrow(
      /'act_a' is called 2 times/,
    );
    // A BatchNormalization after a conv that also feeds another layer cannot be folded.
    const tee = [...LAYERS.slice(0, 3), layer('pool_x', 'MaxPooling2D', { pool_size: 2 }, ['conv_a'])];
    expect(() => new KerasGraph(withLayers(tee), { outputs: ['bn_a', 'pool_x'] })).toThrow(
      /'bn_a' does not follow a linear Conv2D it alone consumes/,
    );
    const dil = [LAYERS[0], { ...LAYERS[1], config: { ...LAYERS[1].config, dilation_rate: [2, 2] } }];
    expect(() => new KerasGraph(withLayers(dil))).toThrow(/'conv_a' is dilated/);
    expect(tf.memory().numTensors).toBe(before);

    const g = new KerasGraph(source, { outputs: ['pool_a', 'conv_b'] });
    const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => g.run(x, 'conv_b', ['pool_a'])).toThrow(/no layer 'pool_a' up to 'conv_b'/);
    expect(() => g.run(x, 'cat')).toThrow(/no layer 'cat' in the graph/);
    expect(() => g.run(tf.zeros([1, 8, 8, 2]) as tf.Tensor4D, 'conv_b')).toThrow(/x must be \[B, H, W, 3\]/);
    g.dispose();
    expect(() => g.run(x, 'conv_b')).toThrow(/disposed/);
    tf.dispose([...Object.values(w), x]);
  });
});
