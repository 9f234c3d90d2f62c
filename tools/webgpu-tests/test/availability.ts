/**
 * Whether the WebGPU route can run here. In CI (CI=true) it must: an unavailable route fails the
 * suite instead of skipping it. Elsewhere the tests skip with the reason printed.
 */
import { backendAdapter, setupBackend } from '@ldmae/core';

export interface Availability {
  /** Why the tests cannot run, or null when they can. */
  reason: string | null;
  /** The adapter found (its name), when there is one. */
  adapter: string | null;
}

export async function probeWebGPU(): Promise<Availability> {
  try {
    await setupBackend({ backend: 'webgpu' });
    return { reason: null, adapter: backendAdapter()?.name ?? null };
  } catch (e) {
    const reason = (e as Error).message;
    if (process.env.CI === 'true') throw new Error(`CI=true but WebGPU is unavailable: ${reason}`);
    console.warn(`skipping the WebGPU tests: ${reason}`);
    return { reason, adapter: null };
  }
}
