/**
 * The Node WebGPU backend itself: the adapter is named, synchronous reads are reported as unavailable,
 * and the kernels we replace (AddN past the storage-binding limit) match wasm.
 */
import { backendAdapter, canReadSync, createRng, setupBackend, WEBGPU_KERNELS } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { probeWebGPU } from './availability.js';
import { readAll, relativeDiffs, runOn } from './compare.js';

const { reason, adapter } = await probeWebGPU();

describe.skipIf(reason !== null)('the WebGPU backend in Node', () => {
  it('names its adapter and has no synchronous reads', async () => {
    expect(await setupBackend({ backend: 'webgpu' })).toBe('webgpu');
    const a = backendAdapter();
    expect(a?.name).toBe(adapter);
    console.log(`adapter: ${a?.name} (route ${a?.route}, software ${a?.software})`);
    expect(canReadSync()).toBe(false);
    await setupBackend({ backend: 'wasm' });
    expect(backendAdapter()).toBeUndefined();
    expect(canReadSync()).toBe(true);
  });

  it('AddN of 1 to 40 tensors (past maxStorageBuffersPerShaderStage) equals wasm', async () => {
    expect(WEBGPU_KERNELS).toContain('AddN');
    const run = async () => {
      const rng = createRng(6);
      const xs = Array.from({ length: 40 }, () => rng.normal([3, 5]));
      const sums = Object.fromEntries([1, 2, 7, 8, 9, 15, 40].map((n) => [`n${n}`, tf.addN(xs.slice(0, n))]));
      const out = await readAll(sums);
      tf.dispose(xs);
      return out;
    };
    const ref = await runOn('wasm', run);
    const got = await runOn('webgpu', run);
    for (const [k, d] of Object.entries(relativeDiffs(got, ref))) expect(d, k).toBeLessThan(1e-6);
  });
});
