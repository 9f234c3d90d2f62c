/** Helpers of the wasm kernel tests, which run the same ops on wasm and on cpu and compare the outputs. */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../src/index.node.js';

/** max|a-b| / max(1e-6, max|b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Run `make` under tidy on one backend and read every output back. */
export async function runOn(backend: 'cpu' | 'wasm', make: () => tf.Tensor[]) {
  await setupBackend({ backend });
  const outs = tf.tidy(make);
  const res = {
    shapes: outs.map((t) => t.shape),
    dtypes: outs.map((t) => t.dtype),
    values: outs.map((t) => Array.from(t.dataSync() as ArrayLike<number>)),
  };
  tf.dispose(outs);
  return res;
}
