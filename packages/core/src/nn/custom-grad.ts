/** A typed front to tf.customGrad (its declared signature mixes inputs and the save function). */
import * as tf from '@tensorflow/tfjs-core';

/** What the forward function of {@link customGrad1} returns. */
export interface CustomGradResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/** tf.customGrad for a function of one tensor. */
export function customGrad1(
  f: (x: tf.Tensor, save: tf.GradSaveFunc) => CustomGradResult,
): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
}

/** tf.customGrad for a function of two tensors. */
export function customGrad2(
  f: (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => CustomGradResult,
): (a: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (
    a: tf.Tensor,
    b: tf.Tensor,
  ) => tf.Tensor;
}

/** tf.customGrad for a function of three tensors. */
export function customGrad3(
  f: (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, save: tf.GradSaveFunc) => CustomGradResult,
): (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (
    a: tf.Tensor,
    b: tf.Tensor,
    c: tf.Tensor,
  ) => tf.Tensor;
}
