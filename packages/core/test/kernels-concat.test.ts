/**
 * Our wasm Concat (runs moved with copyWithin inside the heap): values against the cpu backend
 * (exact: it only moves data) for every axis, empty and single inputs, int32 and bool, the gradient
 * of a split, and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { expectNoLeak, expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('wasm Concat', () => {
  it('is registered', () => {
    expect(WASM_KERNELS).toContain('Concat');
  });

  const cases: [number[][], number][] = [
    [[[5], [3]], 0],
    [
      [
        [2, 3],
        [4, 3],
      ],
      0,
    ],
    [
      [
        [2, 3],
        [2, 5],
        [2, 1],
      ],
      1,
    ],
    [
      [
        [2, 3],
        [2, 5],
      ],
      -1,
    ],
    [
      [
        [32, 6, 8],
        [32, 6, 8],
        [32, 6, 8],
      ],
      2,
    ], // attention's dq, dk, dv
    [
      [
        [2, 3, 4, 5],
        [2, 1, 4, 5],
      ],
      1,
    ],
    [
      [
        [2, 0, 4],
        [2, 3, 4],
      ],
      1,
    ], // an empty input
    [[[2, 3]], 0], // one input
  ];
  it.each(cases.map(([shapes, axis]) => [`${JSON.stringify(shapes)} axis ${axis}`, shapes, axis] as const))(
    '%s matches cpu',
    async (_n, shapes, axis) => {
      await expectSameOnWasmAndCpu(() => {
        const rng = createRng(shapes.length);
        return [
          tf.concat(
            shapes.map((s) => rng.normal(s)),
            axis,
          ),
        ];
      });
    },
  );

  it('joins int32 exactly and keeps bool on the native kernel', async () => {
    await expectSameOnWasmAndCpu(() => [
      tf.concat([tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6], [2, 1], 'int32')], 1),
      tf.concat([tf.tensor1d([true, false], 'bool'), tf.tensor1d([true], 'bool')]),
    ]);
  });

  it('gives the gradient of a split, and leaks nothing', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(9);
      const x = rng.normal([4, 5, 12]);
      const w = rng.normal([4, 5, 4]);
      const f = (t: tf.Tensor) => {
        const [a, b, c] = tf.split(t, 3, -1);
        return tf.sum(tf.mul(tf.add(tf.mul(a, 2), tf.mul(b, c)), w));
      };
      return [tf.grad(f)(x)];
    });
    await setupBackend({ backend: 'wasm' });
    const x = createRng(1).normal([3, 4]);
    expectNoLeak(() => {
      tf.concat([x, x, tf.zeros([3, 0])], 1).dataSync();
    });
    x.dispose();
  });
});
