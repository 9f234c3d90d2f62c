import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  Block,
  Conv2d,
  createRng,
  GroupNorm,
  type Module,
  RotaryEmbedding2d,
  SwiGLU,
  setupBackend,
  TimestepEmbedder,
} from '../src/index.node.js';
import { expectAllClose, randomizeParams } from './nn-gradcheck.js';

interface Forwardable extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}

/** Output and parameter gradients of sum(f(x) * r), as plain arrays keyed by parameter name. */
function forwardBackward(m: Forwardable, x: tf.Tensor, r: tf.Tensor): Record<string, Float32Array> {
  const named = m.namedParameters();
  return tf.tidy(() => {
    const out: Record<string, Float32Array> = {};
    const { value, grads } = tf.variableGrads(() => {
      const y = m.forward(x);
      out.output = y.dataSync().slice() as Float32Array;
      return tf.sum(tf.mul(y, r)) as tf.Scalar;
    });
    out.loss = value.dataSync().slice() as Float32Array;
    for (const [name, v] of named) out[name] = grads[v.name].dataSync().slice() as Float32Array;
    return out;
  });
}

const builders: [string, () => { m: Forwardable; x: tf.Tensor; extra?: Module }][] = [
  [
    'Block (MAE)',
    () => {
      const m = new Block(32, 4, { rng: createRng(1) });
      return { m, x: createRng(2).normal([2, 16, 32]) };
    },
  ],
  [
    'Block (LightningDiT: RMSNorm, qk-norm, SwiGLU, RoPE)',
    () => {
      const rope = new RotaryEmbedding2d(8, 4);
      const m = new Block(32, 4, {
        rng: createRng(3),
        norm: 'rmsnorm',
        qkNorm: 'rmsnorm',
        ffn: 'swiglu',
        rope,
      });
      return { m, x: createRng(4).normal([2, 16, 32]), extra: rope };
    },
  ],
  [
    'Conv2d k3 s2 p1',
    () => ({
      m: new Conv2d(4, 6, 3, { rng: createRng(5), stride: 2, padding: 1 }),
      x: createRng(6).normal([2, 9, 8, 4]),
    }),
  ],
  [
    'Conv2d k3 s1 padding [1, 0]',
    () => ({
      m: new Conv2d(4, 6, 3, { rng: createRng(5), padding: [1, 0] }),
      x: createRng(6).normal([2, 6, 7, 4]),
    }),
  ],
  ['GroupNorm', () => ({ m: new GroupNorm(2, 8), x: createRng(7).normal([2, 3, 3, 8], 1, 2) })],
  ['SwiGLU', () => ({ m: new SwiGLU(8, 12, { rng: createRng(8) }), x: createRng(9).normal([3, 5, 8]) })],
  [
    'TimestepEmbedder',
    () => ({ m: new TimestepEmbedder(16, { rng: createRng(10) }), x: tf.tensor1d([0, 1.5, 250, 999]) }),
  ],
];

describe('wasm agrees with cpu, and nothing leaks', () => {
  for (const [name, build] of builders) {
    it(`${name}: forward and parameter gradients`, async () => {
      const results: Record<string, Record<string, Float32Array>> = {};
      for (const backend of ['cpu', 'wasm'] as const) {
        await setupBackend({ backend });
        const { m, x, extra } = build();
        randomizeParams(m.namedParameters(), 11, 0.3);
        const r = createRng(12).normal(tf.tidy(() => m.forward(x).shape));
        forwardBackward(m, x, r); // the first call may create backend-side caches
        const before = tf.memory().numTensors;
        results[backend] = forwardBackward(m, x, r);
        expect(tf.memory().numTensors, `${backend}: tensors leaked by forward + backward`).toBe(before);
        // Outside any tidy, a forward leaves only its result and a gradient step only value + grads.
        const y = m.forward(x);
        expect(tf.memory().numTensors, `${backend}: forward kept intermediates`).toBe(before + 1);
        y.dispose();
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), r)) as tf.Scalar);
        const kept = 1 + Object.keys(grads).length;
        expect(tf.memory().numTensors, `${backend}: backward kept intermediates`).toBe(before + kept);
        tf.dispose([value, ...Object.values(grads)]);
        tf.dispose([x, r]);
        m.dispose();
        extra?.dispose();
      }
      const { cpu, wasm } = results;
      expect(Object.keys(wasm)).toEqual(Object.keys(cpu));
      for (const k of Object.keys(cpu)) {
        const scale = cpu[k].reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        expectAllClose(wasm[k], cpu[k], 2e-5 * Math.max(1, scale), 1e-4);
      }
    });
  }
});
