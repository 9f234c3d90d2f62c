/**
 * Our wasm Transpose (a JavaScript heap copy for swaps of the last two axes, tfjs's kernel for the
 * rest): the axis merging, values against the cpu backend (exact: it only moves data), gradients
 * through a Linear, registration and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeAxes } from '../src/backend/kernels/transpose.js';
import { createRng, Linear, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('mergeAxes', () => {
  it('drops axes of size 1 and merges axes that stay adjacent and in order', () => {
    expect(mergeAxes([1024, 192], [1, 0])).toEqual({ dims: [1024, 192], perm: [1, 0] });
    // [2, 3, 4, 5] -> [4, 5, 2, 3] is the swap of [6, 20].
    expect(mergeAxes([2, 3, 4, 5], [2, 3, 0, 1])).toEqual({ dims: [6, 20], perm: [1, 0] });
    // A batched swap stays batched; size-1 axes vanish wherever they go.
    expect(mergeAxes([7, 1, 3, 5], [0, 1, 3, 2])).toEqual({ dims: [7, 3, 5], perm: [0, 2, 1] });
    expect(mergeAxes([1, 3, 1], [2, 1, 0])).toEqual({ dims: [3], perm: [0] });
    // Attention's head split is not a swap of the last two.
    expect(mergeAxes([16, 64, 3, 64], [0, 2, 1, 3])).toEqual({ dims: [16, 64, 3, 64], perm: [0, 2, 1, 3] });
    expect(mergeAxes([2, 3, 4], [0, 1, 2])).toEqual({ dims: [24], perm: [0] });
  });
});

describe('registration', () => {
  it('replaces Transpose on wasm', () => {
    expect(WASM_KERNELS).toContain('Transpose');
  });

  it('leaves tensor count and wasm buffers unchanged, forward and backward', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = createRng(4).normal([3, 40, 50]);
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    tf.tidy(() => {
      tf.transpose(x, [0, 2, 1]).dataSync();
      tf.transpose(x, [1, 0, 2]).dataSync();
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(t, [0, 2, 1]), tf.transpose(t, [0, 2, 1]))))(
        x,
      ).dataSync();
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
    x.dispose();
  });
});

describe('Transpose matches cpu', () => {
  const cases: [number[], number[]][] = [
    [
      [1024, 192],
      [1, 0],
    ], // a Linear's weight gradient
    [
      [5, 7],
      [1, 0],
    ],
    [
      [33, 65],
      [1, 0],
    ], // rows and columns past a tile
    [
      [3, 37, 41],
      [0, 2, 1],
    ], // batched
    [
      [2, 3, 4, 5],
      [2, 3, 0, 1],
    ], // merges to a swap
    [
      [7, 1, 3, 5],
      [0, 1, 3, 2],
    ], // an axis of size 1
    [
      [16, 6, 3, 8],
      [0, 2, 1, 3],
    ], // not a swap: tfjs's kernel
    [
      [2, 3, 4],
      [2, 0, 1],
    ],
    [
      [2, 3, 4],
      [0, 1, 2],
    ],
    [
      [4, 0, 3],
      [2, 1, 0],
    ], // empty
  ];
  it.each(cases.map(([s, p]) => [`[${s}] perm [${p}]`, s, p] as const))('%s', async (_n, shape, perm) => {
    await expectSameOnWasmAndCpu(() => [tf.transpose(createRng(3).normal(shape), perm)]);
  });

  it('transposes int32 and bool tensors exactly', async () => {
    await expectSameOnWasmAndCpu(() => {
      const i = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
      const b = tf.tensor2d([true, false, false, true, true, true], [3, 2], 'bool');
      return [tf.transpose(i), tf.transpose(b)];
    });
  });

  it('gives the same gradients as cpu through a Linear (its weight gradient transposes)', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(5);
      const lin = new Linear(48, 40, { rng });
      const x = rng.normal([70, 48]);
      const w = rng.normal([70, 40]);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(lin.forward(x), w)) as tf.Scalar, [lin.weight]);
      const g = grads[lin.weight.name];
      lin.dispose();
      return [g];
    }, 1e-5);
  });
});
