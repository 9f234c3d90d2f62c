/**
 * Our wasm Reverse (a JavaScript heap copy): values against the cpu backend (exact: it only moves
 * data), gradients through tf.reverse and RotaryEmbedding2d, registration and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, RotaryEmbedding2d, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { expectNoLeak, expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('registration', () => {
  it('replaces Reverse on wasm', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(WASM_KERNELS).toContain('Reverse');
  });

  it('leaves tensor count and wasm buffers unchanged, forward and backward', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = createRng(4).normal([2, 3, 16, 8]);
    expectNoLeak(() => {
      tf.reverse(x, [0, 3]).dataSync();
      tf.reverse(tf.reshape(x, [-1, 2]), 1).dataSync();
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.reverse(t, [1, 3]), t)))(x).dataSync();
    });
    x.dispose();
  });
});

describe('Reverse matches cpu', () => {
  const cases: [number[], number | number[]][] = [
    [[7], 0],
    [[4, 5, 6], 0],
    [[4, 5, 6], 1],
    [[4, 5, 6], 2],
    [[4, 5, 6], -1],
    [
      [4, 5, 6],
      [0, 2],
    ],
    [
      [4, 5, 6],
      [0, 1, 2],
    ],
    [[4, 5, 6], []],
    [[3, 8, 2], 2], // RoPE's pair swap
    [
      [2, 3, 16, 2],
      [1, 3],
    ],
    [
      [2, 3, 40],
      [0, 1],
    ], // runs of 40: the set(subarray) path
    [[2, 3, 5, 40], [1]],
    [[5, 1, 3], [1]], // an axis of size 1
    [
      [5, 1, 3],
      [0, 1],
    ],
    [[2, 0, 3], [1]], // empty
  ];
  it.each(cases.map(([s, a]) => [`[${s}] axes ${JSON.stringify(a)}`, s, a] as const))(
    '%s',
    async (_n, shape, axes) => {
      await expectSameOnWasmAndCpu(() => {
        const x = createRng(3).normal(shape);
        return [tf.reverse(x, axes)];
      });
    },
  );

  it('reverses int32 and bool tensors exactly', async () => {
    await expectSameOnWasmAndCpu(() => {
      const i = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2], 'int32');
      const b = tf.tensor2d([true, false, false, true, true, true], [2, 3], 'bool');
      return [tf.reverse(i, [0, 2]), tf.reverse(b, 1)];
    });
  });

  it('gives the same gradient as cpu through tf.reverse and RotaryEmbedding2d', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(5);
      const x = rng.normal([2, 3, 16, 8]);
      const w = rng.normal([2, 3, 16, 8]);
      const rope = new RotaryEmbedding2d(8, 4);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rope.forward(tf.reverse(t, [1, 3])), w)))(x);
      const y = rope.forward(x);
      rope.dispose();
      return [y, g];
    }, 1e-5);
  });
});
