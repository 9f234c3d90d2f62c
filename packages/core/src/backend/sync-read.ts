import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether the current backend can download tensors synchronously (`dataSync`, `arraySync`). False
 * for WebGPU outside a browser: tfjs's WebGPU readSync copies through an OffscreenCanvas, which Node
 * lacks, so only `await t.data()` works there. Code with a synchronous read on a hot path checks this
 * and reads asynchronously (or defers a check) instead.
 */
export function canReadSync(): boolean {
  return (
    tf.getBackend() !== 'webgpu' ||
    typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined'
  );
}
