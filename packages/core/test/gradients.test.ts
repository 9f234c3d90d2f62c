import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { hasTfjsGradients, setupBackend } from '../src/index.node.js';

it('importing @ldmae/core registers tfjs-core gradients', async () => {
  await setupBackend({ backend: 'wasm' });
  expect(hasTfjsGradients()).toBe(true);
  // d/dA sum(A @ A) = (A @ A)'s gradient: ones @ A^T + A^T @ ones.
  const a = tf.tensor2d([
    [1, 2],
    [3, 4],
  ]);
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D)))(a);
  expect(Array.from(g.dataSync())).toEqual([7, 11, 9, 13]);
  tf.dispose([a, g]);
});
