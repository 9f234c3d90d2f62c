/**
 * Runs the same computation on wasm and on WebGPU and compares the results. Everything a computation
 * returns is read back to the host (asynchronously: WebGPU in Node cannot read synchronously) and
 * every tensor it made must be released (tf.memory().numTensors unchanged).
 */
import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** Named host results of one run. */
export type HostResults = Record<string, Float32Array>;

/** Read tensors (disposing them) into host arrays. */
export async function readAll(named: Record<string, tf.Tensor>): Promise<HostResults> {
  const out: HostResults = {};
  for (const [k, t] of Object.entries(named)) {
    out[k] = Float32Array.from((await t.data()) as Float32Array);
    t.dispose();
  }
  return out;
}

/** Run `fn` with `backend` set; fails if it leaves tensors behind. */
export async function runOn(
  backend: 'wasm' | 'webgpu',
  fn: () => Promise<HostResults>,
): Promise<HostResults> {
  await setupBackend({ backend });
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${backend}: ${after - before} tensors leaked`);
  return out;
}

/** Per result: max |a - b| / max |reference| (0 when both are zero). */
export function relativeDiffs(got: HostResults, ref: HostResults): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, r] of Object.entries(ref)) {
    const g = got[k];
    if (!g || g.length !== r.length) throw new Error(`result '${k}': ${g?.length} values vs ${r.length}`);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < r.length; i++) {
      diff = Math.max(diff, Math.abs(g[i] - r[i]));
      scale = Math.max(scale, Math.abs(r[i]));
    }
    out[k] = scale === 0 ? diff : diff / scale;
  }
  return out;
}

/** The largest entry, with its name, for messages. */
export function worst(diffs: Record<string, number>): [string, number] {
  return Object.entries(diffs).reduce((a, b) => (b[1] > a[1] ? b : a), ['none', 0] as [string, number]);
}
