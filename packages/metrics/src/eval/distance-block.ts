/**
 * A tfjs distance kernel for {@link precisionRecall}'s `distanceBlock` hook: the u.v products of a block
 * run as one float32 matrix product on the active backend (XNNPACK on wasm when neither operand is
 * transposed, hence the explicit transpose first), the norms and the clamp at 0 as in the float64 kernel.
 *
 * Float32 distances differ from the float64 ones by about 1e-7 of |u|^2 + |v|^2, so a point within that
 * of a ball's edge may fall on the other side; the ADM evaluator itself uses float16 blocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FloatArray } from '../stats/checks.js';
import type { DistanceBlockFn } from '../stats/precision-recall.js';

function asF32(x: FloatArray): Float32Array {
  return x instanceof Float32Array ? x : Float32Array.from(x);
}

/**
 * A {@link DistanceBlockFn} computing squared Euclidean distances with tf.matMul on the current backend.
 * It reads each block back synchronously (dataSync) and leaves no tensor behind.
 */
export function tfDistanceBlock(): DistanceBlockFn {
  return (rows, numRows, cols, numCols, dim): Float32Array => {
    const out = tf.tidy(() => {
      const a = tf.tensor2d(asF32(rows), [numRows, dim]);
      const b = tf.tensor2d(asF32(cols), [numCols, dim]);
      const ab = tf.matMul(a, tf.transpose(b));
      const na = tf.sum(tf.square(a), 1, true);
      const nb = tf.reshape(tf.sum(tf.square(b), 1), [1, numCols]);
      return tf.relu(tf.add(tf.sub(na, tf.mul(ab, 2)), nb));
    });
    try {
      return out.dataSync() as Float32Array;
    } finally {
      out.dispose();
    }
  };
}
