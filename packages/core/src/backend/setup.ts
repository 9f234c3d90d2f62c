/**
 * Backend choice shared by the Node and browser entries. Each entry passes the loaders it can use,
 * so the browser bundle never references Node-only packages.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setCurrentAdapter } from './adapter.js';
import { OWN_PRODUCT_MAX_THREADS, setOwnProducts } from './kernels/batch-matmul.js';
import { registerMissingKernels } from './kernels/index.js';

/** Backends `setupBackend` knows. 'tensorflow' is tfjs-node (or tfjs-node-gpu). */
export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';

/** Options of `setupBackend`. */
export interface SetupBackendOptions {
  /** Which backend; 'auto' (default) picks the fastest one that is installed. */
  backend?: BackendName;
  /**
   * Threads the wasm backend computes with (ignored by the other backends). In Node they run its float32
   * matrix products (our kernel, on worker threads that sleep while they wait), and `xnnpackThreads` of
   * them run XNNPACK's pool (convolutions and most other kernels). The default in Node is
   * `os.availableParallelism()` (or the environment variable `LDMAE_WASM_THREADS`), between 1 and 8
   * (the most tfjs's threaded build runs); 1 is tfjs's single-threaded build. The count is fixed when
   * the backend first starts in a process; {@link backendThreads} reports the count in use. In a
   * browser tfjs decides (threads need a cross-origin-isolated page) and this is passed to tfjs's
   * `setThreadsCount`.
   */
  threads?: number;
  /**
   * Node only, wasm backend: how many of the `threads` run XNNPACK's pool. Default: half of
   * `os.availableParallelism()` (at least 1), as tfjs's default in browsers: XNNPACK's threads spin
   * while they wait for work, and a pool that competes for cores with the product threads or other
   * processes gets slower instead of faster. A larger value is reduced to `threads`. Fixed when the
   * backend first starts in a process.
   */
  xnnpackThreads?: number;
  /**
   * Node only, wasm backend: turn on WebAssembly relaxed SIMD where V8 keeps it behind a flag (Node
   * 20; Node 22 and later have it on), so that our float32 matrix product runs fused multiply-adds.
   * This sets the process-wide V8 flag `--experimental-wasm-relaxed-simd`. Default true; with false
   * V8's flags are left alone and the product uses a separate multiply and add where relaxed SIMD
   * is off (slower; products then differ from the fused ones in the last bits).
   */
  relaxedSimd?: boolean;
}

let currentThreads: number | undefined;
let currentXnnpackThreads: number | undefined;

/**
 * Threads the current backend computes with, as the backend reports it, when `setupBackend` set it
 * up: for wasm in Node the threads its products run on (1 for tfjs's single-threaded build; XNNPACK's
 * pool has at most as many), in a browser XNNPACK's pool; 1 for cpu; undefined for the others
 * (tfjs-node and the GPU backends do not say).
 *
 * @example
 * ```ts
 * await setupBackend({ backend: 'wasm', threads: 2 });
 * console.log(backendThreads()); // 2
 * ```
 */
export function backendThreads(): number | undefined {
  return currentThreads;
}

/**
 * Threads of the wasm backend's XNNPACK pool (at most {@link backendThreads}; 1 for tfjs's
 * single-threaded build) when `setupBackend` set up wasm, else undefined.
 *
 * @example
 * ```ts
 * await setupBackend({ backend: 'wasm', threads: 4, xnnpackThreads: 2 });
 * console.log(backendThreads(), backendXnnpackThreads()); // 4 2
 * ```
 */
export function backendXnnpackThreads(): number | undefined {
  return currentXnnpackThreads;
}

/** A way to make one backend available: import its package and report the tfjs name it registers. */
export interface BackendLoader {
  /** tfjs backend name registered by the package ('tensorflow', 'wasm', ...). */
  tfName: string;
  /** Import the package (registering the backend); throws when it is not installed. */
  load: (opts: SetupBackendOptions) => Promise<void>;
  /** What to tell a user whose explicit choice is unavailable. */
  install: string;
  /** Threads the backend computes with, read once it is ready (see {@link backendThreads}). */
  threads?: () => number | undefined;
  /** wasm: threads of XNNPACK's pool, read once it is ready (see {@link backendXnnpackThreads}). */
  xnnpackThreads?: () => number | undefined;
  /**
   * wasm: run our product kernel on `threads` threads once the backend is ready; true when it does
   * (else products beyond {@link OWN_PRODUCT_MAX_THREADS} threads go to XNNPACK).
   */
  startProductPool?: (threads: number) => Promise<boolean>;
}

/**
 * One step of the 'auto' order: every loader of a backend, or one of them by index (so a backend's
 * loaders can sit apart: tfjs-node-gpu before WebGPU, tfjs-node after it).
 */
export type AutoStep = Exclude<BackendName, 'auto'> | [Exclude<BackendName, 'auto'>, number];

/** Choose and initialise a backend from an ordered table of loaders. Returns the name that was set. */
export async function setupBackendWith(
  loaders: Record<Exclude<BackendName, 'auto'>, BackendLoader[]>,
  autoOrder: AutoStep[],
  opts: SetupBackendOptions = {},
): Promise<string> {
  const choice = opts.backend ?? 'auto';
  if (choice !== 'auto' && !(choice in loaders)) {
    throw new Error(
      `setupBackend: backend must be one of auto, ${Object.keys(loaders).join(', ')}; got '${choice}'`,
    );
  }
  for (const key of ['threads', 'xnnpackThreads'] as const) {
    const v = opts[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new Error(`setupBackend: ${key} must be a positive integer, got ${v}`);
    }
  }
  const order: AutoStep[] = choice === 'auto' ? autoOrder : [choice];
  const errors: string[] = [];
  for (const step of order) {
    const name = Array.isArray(step) ? step[0] : step;
    const tried = Array.isArray(step) ? [loaders[name][step[1]]] : loaders[name];
    for (const loader of tried) {
      setCurrentAdapter(undefined);
      currentThreads = undefined;
      currentXnnpackThreads = undefined;
      try {
        await loader.load({ ...opts, backend: choice });
        if (!(await tf.setBackend(loader.tfName)))
          throw new Error(`tf.setBackend('${loader.tfName}') returned false`);
        await tf.ready();
        registerMissingKernels(loader.tfName);
        currentThreads = loader.threads?.();
        currentXnnpackThreads = loader.xnnpackThreads?.();
        if (loader.tfName === 'wasm') {
          const threads = currentThreads ?? 1;
          const pooled = (await loader.startProductPool?.(threads)) ?? false;
          setOwnProducts(pooled || threads <= OWN_PRODUCT_MAX_THREADS);
        }
        return tf.getBackend();
      } catch (e) {
        setCurrentAdapter(undefined);
        errors.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
        if (choice !== 'auto' && loader === loaders[name][loaders[name].length - 1]) {
          throw new Error(
            `setupBackend: backend '${choice}' is not available (${errors.join('; ')}). ${loader.install}`,
          );
        }
      }
    }
  }
  throw new Error(`setupBackend: no backend could be initialised (${errors.join('; ')})`);
}
