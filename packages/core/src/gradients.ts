/**
 * Registers tfjs-core's gradient functions and chained tensor methods. The `@tensorflow/tfjs` union package does this, but
 * tfjs-core alone registers none, so `tf.grads` would fail with "gradient function not found".
 *
 * tfjs-core ships them only as extensionless ES modules that plain Node cannot load, so our build
 * bundles them into this file; tfjs keeps its engine and registries on the global object, so the
 * bundled copies serve whichever tfjs-core the application loaded. Registration is idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// Some gradients (gather with batchDims, prod) call chained tensor methods such as x.split().
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';

/** True once tfjs-core's gradients are registered (importing @ldmae/core does it). */
export function hasTfjsGradients(): boolean {
  return tf.getGradient('Sum') != null && tf.getGradient('Conv2D') != null;
}
