/**
 * LdmaeNorm / LdmaeNormGrad: LayerNorm and RMSNorm with their scale and shift as one wasm kernel each
 * way. Values and the gradients of x, weight and bias against the tensor-op form on cpu, for row
 * lengths with and without a tail of fewer than four, one row and one column, plus leaks and the
 * registration.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { NORM, NORM_GRAD } from '../src/backend/kernels/fused.js';
import { createRng, LayerNorm, RMSNorm, setupBackend } from '../src/index.node.js';
import { runOn } from './wasm-vs-cpu.js';

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const SHAPES: number[][] = [
  [2, 3, 6],
  [5, 7],
  [33, 192],
  [4, 1],
  [1, 1],
  [3, 0, 8],
];

/** Forward value and the gradients of x and every parameter of `norm` under a random cotangent. */
function valueAndGrads(make: () => LayerNorm | RMSNorm, shape: number[]) {
  return () => {
    const norm = make();
    const rng = createRng(shape.reduce((a, b) => a * 31 + b, 7));
    for (const p of norm.parameters()) p.assign(rng.normal(p.shape, 1, 0.5));
    const x = rng.normal(shape, 0.4, 1.7);
    const r = rng.normal(shape);
    const y = norm.forward(x);
    const f = (t: tf.Tensor, ...params: tf.Tensor[]) => {
      void params;
      return tf.sum(tf.mul(norm.forward(t), r));
    };
    const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, norm.parameters());
    const dx = tf.grad((t: tf.Tensor) => f(t))(x);
    const out = [y, dx, ...norm.parameters().map((p) => grads[p.name])];
    norm.dispose();
    return out;
  };
}

describe('fused LayerNorm / RMSNorm on wasm', () => {
  it('registers LdmaeNorm and LdmaeNormGrad on wasm only', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(tf.getKernel(NORM, 'wasm')).toBeDefined();
    expect(tf.getKernel(NORM_GRAD, 'wasm')).toBeDefined();
    expect(tf.getKernel(NORM, 'cpu')).toBeUndefined();
  });

  const cases = [
    ['LayerNorm', (c: number) => new LayerNorm(c, { eps: 1e-6 })],
    ['RMSNorm', (c: number) => new RMSNorm(c)],
  ] as const;
  it.each(cases.flatMap(([name, make]) => SHAPES.map((s) => [name, s, make] as const)))(
    '%s on [%s]: value and gradients match the tensor ops on cpu',
    async (_name, shape, make) => {
      const c = shape[shape.length - 1];
      const cpu = await runOn(
        'cpu',
        valueAndGrads(() => make(c), shape),
      );
      const wasm = await runOn(
        'wasm',
        valueAndGrads(() => make(c), shape),
      );
      expect(wasm.shapes).toEqual(cpu.shapes);
      // Relative to the larger of 1 and the output's size: with one column, RMSNorm's input gradient
      // is a cancellation of order eps, equally inexact in float32 on both sides.
      cpu.values.forEach((ref, i) => {
        const scale = Math.max(1, ...ref.map(Math.abs));
        expect(maxDiff(wasm.values[i], ref) / scale, `output ${i}`).toBeLessThan(2e-5);
      });
    },
  );

  it('uses the kernels (two per forward and backward) and leaks nothing', async () => {
    await setupBackend({ backend: 'wasm' });
    const norm = new LayerNorm(12);
    const x = createRng(3).normal([6, 12]);
    const before = tf.memory().numTensors;
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(norm.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names.filter((n) => n === NORM)).toHaveLength(1);
    expect(names.filter((n) => n === NORM_GRAD)).toHaveLength(1);
    expect(names).not.toContain('Mean');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    norm.dispose();
  });
});
