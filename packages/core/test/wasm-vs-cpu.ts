/** Helpers of the wasm kernel tests, which run the same ops on wasm and on cpu and compare the outputs. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
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

/** Expect `make` to give the same shapes, dtypes, and values within `tol` (NaN where NaN), on wasm as on cpu. */
export async function expectSameOnWasmAndCpu(make: () => tf.Tensor[], tol = 0): Promise<void> {
  const cpu = await runOn('cpu', make);
  const wasm = await runOn('wasm', make);
  expect(wasm.shapes).toEqual(cpu.shapes);
  expect(wasm.dtypes).toEqual(cpu.dtypes);
  cpu.values.forEach((ref, i) => {
    const got = wasm.values[i];
    expect(got.length).toBe(ref.length);
    let worst = 0;
    for (let j = 0; j < ref.length; j++) {
      // Equal infinities, and NaN against NaN, count as equal.
      const same = got[j] === ref[j] || (Number.isNaN(got[j]) && Number.isNaN(ref[j]));
      worst = Math.max(worst, same ? 0 : Math.abs(got[j] - ref[j]));
    }
    expect(worst).toBeLessThanOrEqual(tol);
  });
}

/** Count tensors and heap buffers around `run`, which must leave neither behind. */
export function expectNoLeak(run: () => void): void {
  const tensors = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  tf.tidy(run);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.backend().numDataIds()).toBe(buffers);
}
