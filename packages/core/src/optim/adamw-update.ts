/**
 * One AdamW update of one parameter, in two forms that give the same bits: on wasm our one-pass kernel
 * (every operation an IEEE float32 operation in the order below), elsewhere 13 tensor ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW, hasKernel } from '../backend/kernels/fused.js';

/** The factors of one update; see {@link AdamW.step}. */
export interface AdamWFactors {
  /** 1 - beta1. */
  oneMinusB1: number;
  /** beta2. */
  b2: number;
  /** 1 - beta2. */
  oneMinusB2: number;
  /** sqrt(1 - beta2^t). */
  bc2Sqrt: number;
  eps: number;
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** 1 - lr * weightDecay, or 1 for no decay (x * 1 is x, bit for bit). */
  decay: number;
}

/** New [param, expAvg, expAvgSq] (the caller assigns and disposes them) from float32 tensors of one shape. */
export function adamwUpdate(
  param: tf.Tensor,
  grad: tf.Tensor,
  expAvg: tf.Tensor,
  expAvgSq: tf.Tensor,
  k: AdamWFactors,
): tf.Tensor[] {
  if (hasKernel(ADAMW)) {
    const attrs = { ...k } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(ADAMW, { param, grad, expAvg, expAvgSq }, attrs) as tf.Tensor[];
  }
  const p0 = k.decay === 1 ? param : tf.mul(param, k.decay);
  // torch uses lerp for the first moment: m + (1-b1) * (g - m).
  const m = tf.add(expAvg, tf.mul(tf.sub(grad, expAvg), k.oneMinusB1));
  const v = tf.add(tf.mul(expAvgSq, k.b2), tf.mul(tf.square(grad), k.oneMinusB2));
  const denom = tf.add(tf.div(tf.sqrt(v), k.bc2Sqrt), k.eps);
  return [tf.sub(p0, tf.mul(tf.div(m, denom), k.stepSize)), m, v];
}
