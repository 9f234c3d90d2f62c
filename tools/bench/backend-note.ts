/** How the benchmarks' notes name the wasm backend's threads. */
import { backendThreads, backendXnnpackThreads } from '@ldmae/core';
import { threads } from './report.js';

/** 'wasm: products on 1 thread, XNNPACK's pool 1'; read it while wasm is the backend. */
export function wasmThreadsNote(): string {
  return `wasm: products on ${threads(backendThreads() ?? 1)}, XNNPACK's pool ${backendXnnpackThreads()}`;
}
