import * as tf from '@tensorflow/tfjs-core';
import { backendMemory } from './kernels/simd.js';
import { startProductPool } from './product-pool.node.js';
import { enableRelaxedSimd } from './relaxed-simd.node.js';
import { type BackendLoader, type SetupBackendOptions, setupBackendWith } from './setup.js';
import {
  configureWasmThreads,
  defaultWasmThreads,
  defaultXnnpackThreads,
  type WasmBackendPackage,
  wasmThreads,
} from './wasm-threads.node.js';
import { webgpuNodeLoader } from './webgpu.node.js';

// Specifiers held in variables so bundlers do not try to resolve optional packages.
const importOptional = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);

let wasmPackage: WasmBackendPackage | undefined;
const wasm: BackendLoader = {
  tfName: 'wasm',
  install: 'Install it with `npm install @tensorflow/tfjs-backend-wasm`.',
  load: async (opts) => {
    if (opts.relaxedSimd !== false) enableRelaxedSimd();
    wasmPackage = (await importOptional('@tensorflow/tfjs-backend-wasm')) as WasmBackendPackage;
    const threads = opts.threads ?? defaultWasmThreads();
    configureWasmThreads(
      wasmPackage,
      threads,
      opts.threads !== undefined || opts.xnnpackThreads !== undefined,
      opts.xnnpackThreads ?? defaultXnnpackThreads(threads),
    );
  },
  threads: () => (wasmPackage ? wasmThreads(wasmPackage) : undefined),
  xnnpackThreads: () => wasmPackage?.getThreadsCount(),
  startProductPool: async (threads) => {
    const memory = backendMemory(tf.backend());
    return memory ? startProductPool(memory, threads) : false;
  },
};

const loaders = {
  tensorflow: [
    {
      tfName: 'tensorflow',
      install: 'Install `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-node-gpu')),
    },
    {
      tfName: 'tensorflow',
      install: 'Install `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-node')),
    },
  ],
  wasm: [wasm],
  cpu: [
    {
      tfName: 'cpu',
      install: 'Install it with `npm install @tensorflow/tfjs-backend-cpu`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-backend-cpu')),
      threads: () => 1,
    },
  ],
  webgl: [
    {
      tfName: 'webgl',
      install: 'WebGL needs a browser (or a headless GL context) and `@tensorflow/tfjs-backend-webgl`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-backend-webgl')),
    },
  ],
  webgpu: [webgpuNodeLoader(importOptional)],
} satisfies Record<string, BackendLoader[]>;

/**
 * Pick and initialise a TensorFlow.js backend (Node). 'auto' tries tfjs-node-gpu, WebGPU on a hardware
 * GPU (through the optional `webgpu` package), tfjs-node, wasm, then cpu. An explicit choice that
 * is not installed throws an error that says how to install it. An explicit 'webgpu' also accepts a
 * software adapter (Dawn's OpenGL ES backend on Mesa llvmpipe), which 'auto' skips.
 * Returns the tfjs name of the backend that was set; {@link backendAdapter} names the GPU and
 * {@link backendThreads} says how many threads the backend computes with.
 *
 * wasm runs tfjs's threaded build (its heap shared with worker threads), which tfjs itself turns off in
 * Node: `threads` (default: `os.availableParallelism()`, between 1 and 8) run the float32 matrix
 * products, and `xnnpackThreads` of them (default: half the CPUs, at most `threads`) XNNPACK's pool;
 * threads: 1 keeps the single-threaded build. The counts are fixed when the backend first starts in a
 * process. If the workers cannot start, the single-threaded build is used, with a one-line warning.
 * The workers never keep a finished process alive.
 *
 * @example
 * ```ts
 * const name = await setupBackend({ backend: 'webgpu' }); // 'webgpu'
 * console.log(backendAdapter()?.name, backendAdapter()?.software);
 * // or, in another process:
 * await setupBackend({ backend: 'wasm', threads: 2 });
 * console.log(backendThreads()); // 2
 * ```
 */
export function setupBackend(opts: SetupBackendOptions = {}): Promise<string> {
  // A GPU through WebGPU beats tfjs-node on the CPU; tfjs-node-gpu (CUDA) stays first.
  return setupBackendWith(loaders, [['tensorflow', 0], 'webgpu', ['tensorflow', 1], 'wasm', 'cpu'], opts);
}
