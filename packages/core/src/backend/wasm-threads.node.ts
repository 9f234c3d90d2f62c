/**
 * Threads for tfjs's wasm backend in Node.
 *
 * tfjs-backend-wasm ships a threaded build (XNNPACK with a pthread pool, on Emscripten workers) but
 * turns it off in Node (tfjs issue 3830): it hands Emscripten its worker script and its own glue code
 * as `blob:` URLs, which Node's `Worker` refuses (ERR_WORKER_PATH), and its bundled copy of the glue
 * refers to bundle-local helpers that a worker does not have.
 *
 * Here the threaded build is started the way Emscripten supports in Node, from the package's own files
 * and through Emscripten's documented module options, without touching any global:
 * - the glue is `wasm-out/tfjs-backend-wasm-threaded-simd.js` of the installed package, loaded with
 *   `require`; workers load the same file (`mainScriptUrlOrBlob` is its path);
 * - the worker script is the package's `wasmWorkerContents`, started from a `data:` URL (a `URL`
 *   object, which Node's `Worker` accepts) behind a two-line prelude that gives it `require`; no file
 *   is written, so read-only installs work;
 * - `instantiateWasm` instantiates the `.wasm` next to the glue, with one import changed:
 *   `emscripten_num_logical_cores`, which tfjs's C++ halves and uses as a cap on the pool
 *   (`min(threads, 8, cores / 2)`), reports `2 * threads` so the pool has exactly the threads asked;
 * - Emscripten starts a pool of 8 workers; the `threads - 1` that XNNPACK uses (the calling thread is
 *   the pool's thread 0) are kept and the others stopped before they load anything;
 * - once XNNPACK's threads run, their workers are `unref`ed: they never keep the process alive, and
 *   the `globalThis.Worker` that Emscripten's glue sets is put back as it was.
 *
 * The result is tfjs's own `BackendWasm` (all its kernels, and ours) over the threaded module, under
 * the name 'wasm'. When the threaded build cannot start (a worker fails, or none has started after a
 * while), its workers are stopped and tfjs's single-threaded build is used, with a one-line warning.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Most threads the wasm backend computes with: tfjs's threaded build caps its XNNPACK pool at 8 (and
 * pre-starts 8 workers).
 */
export const WASM_MAX_THREADS = 8;

/** tfjs's priority for the wasm backend (`registerBackend('wasm', ..., 2)`). */
const WASM_PRIORITY = 2;

/** How long the threaded build may take to start its workers before the single-threaded one is used. */
const START_TIMEOUT_MS = 30_000;

/**
 * Threads `setupBackend` gives the wasm backend in Node when not told: the environment variable
 * `LDMAE_WASM_THREADS` when it is a positive integer, else `os.availableParallelism()`; between 1 and
 * 8. They run the float32 matrix products, on worker threads that sleep while they wait for work, so a
 * busy core slows a product's share on it but takes nothing from the others; XNNPACK's pool gets
 * {@link defaultXnnpackThreads} of them.
 */
export function defaultWasmThreads(): number {
  const env = Number(process.env.LDMAE_WASM_THREADS);
  const n = Number.isInteger(env) && env > 0 ? env : availableParallelism();
  return Math.max(1, Math.min(n, WASM_MAX_THREADS));
}

/**
 * Threads of XNNPACK's pool when `xnnpackThreads` is not given: half of `os.availableParallelism()`
 * (rounded down, at least 1), at most `threads`. Half, as tfjs's own default in browsers: XNNPACK's
 * threads spin while they wait, so a pool that competes for cores gets slower instead of faster (on a
 * 2-CPU machine, a pool of 2 made a VMAE training step slower than 1, and several times slower while
 * another job ran). A 2-CPU machine therefore runs XNNPACK on the calling thread only.
 */
export function defaultXnnpackThreads(threads: number): number {
  return Math.max(1, Math.min(threads, Math.floor(availableParallelism() / 2), WASM_MAX_THREADS));
}

/** The parts of `@tensorflow/tfjs-backend-wasm` used here. */
export interface WasmBackendPackage {
  BackendWasm: new (module: never) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** A Node worker as Emscripten's pthread code keeps it. */
interface PthreadWorker {
  on(event: 'error', listener: (e: Error) => void): unknown;
  off(event: 'error', listener: (e: Error) => void): unknown;
  terminate(): Promise<number>;
  unref(): void;
  onerror?: (e: Error) => void;
}

/** Emscripten's pthread bookkeeping (`Module.PThread`). */
interface PThread {
  unusedWorkers: PthreadWorker[];
  runningWorkers: PthreadWorker[];
  loadWasmModuleToWorker(worker: PthreadWorker, onFinishedLoading?: () => void): void;
  terminateAllThreads(): void;
}

/** The Emscripten module (it is the config object passed to the factory, completed by it). */
interface EmscriptenModule {
  locateFile(path: string, prefix: string): string | URL;
  mainScriptUrlOrBlob: string;
  instantiateWasm(
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ): object;
  PThread?: PThread;
  cwrap?: (name: string, ret: string | null, args: string[]) => (...a: number[]) => number;
  tfjs?: Record<string, unknown>;
}

type Factory = (module: EmscriptenModule) => Promise<EmscriptenModule>;

/** The threaded build's files, read once per process. */
interface ThreadedBuild {
  factory: Factory;
  gluePath: string;
  wasm: Uint8Array<ArrayBuffer>;
  workerSource: string;
}

let build: ThreadedBuild | undefined;

/** Locate and read the threaded build of the installed tfjs-backend-wasm. */
function threadedBuild(): ThreadedBuild {
  if (build) return build;
  const require = createRequire(import.meta.url);
  // From the package's main file (not a deep specifier), so an `exports` map cannot hide wasm-out/.
  const dir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
  const gluePath = join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const factory = require(gluePath) as Factory;
  const { wasmWorkerContents } = require(join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  if (typeof factory !== 'function' || typeof wasmWorkerContents !== 'string') {
    throw new Error(`unexpected files in ${dir}`);
  }
  build = {
    factory,
    gluePath,
    wasm: new Uint8Array(readFileSync(gluePath.replace(/\.js$/, '.wasm'))),
    workerSource: wasmWorkerContents,
  };
  return build;
}

/** Test hook: rewrite the worker script, shorten the start timeout (undefined restores both). */
export interface WasmThreadsTestHook {
  workerSource?: (source: string) => string;
  timeoutMs?: number;
}
let testHook: WasmThreadsTestHook | undefined;
/** For tests only: simulate a worker that fails or hangs. */
export function setWasmThreadsTestHook(hook: WasmThreadsTestHook | undefined): void {
  testHook = hook;
}

/**
 * The worker script as a `data:` URL. It is an ES module there, so a prelude provides what the
 * script expects of CommonJS: `require` (for node:fs and node:worker_threads) and `__filename`.
 */
function workerUrl(b: ThreadedBuild): URL {
  const prelude =
    'import { createRequire } from "node:module";' +
    `globalThis.require = createRequire(${JSON.stringify(pathToFileURL(b.gluePath).href)});` +
    `globalThis.__filename = ${JSON.stringify(b.gluePath)};\n`;
  // The source holds "\n" escapes that its template literal turned into newlines inside string
  // literals; tfjs escapes them the same way before making its blob.
  let source = b.workerSource.replace(/\n/g, '\\n');
  if (testHook?.workerSource) source = testHook.workerSource(source);
  return new URL(`data:text/javascript,${encodeURIComponent(prelude + source)}`);
}

/**
 * Start the threaded build (its heap shared, so that our product kernel's workers can run on it) with
 * `threads` threads (1..8) in XNNPACK's pool, and wrap it in tfjs's `BackendWasm`.
 */
function startThreaded(pkg: WasmBackendPackage, threads: number): Promise<tf.KernelBackend> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let started = false;
    let pthread: PThread | undefined;
    let restore = () => {};
    // The glue sets globalThis.Worker (to node:worker_threads' Worker) for the pool it creates at once;
    // no later worker is needed (XNNPACK's threads are created once), so the global is put back.
    const worker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
    const restoreWorker = () => {
      if (worker) Object.defineProperty(globalThis, 'Worker', worker);
      else delete (globalThis as { Worker?: unknown }).Worker;
    };
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      restoreWorker();
      try {
        pthread?.terminateAllThreads();
      } catch {
        // the workers are going away in any case
      }
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const ms = testHook?.timeoutMs ?? START_TIMEOUT_MS;
    const timer = setTimeout(() => fail(new Error(`its workers had not started after ${ms / 1000} s`)), ms);
    try {
      const b = threadedBuild();
      const url = workerUrl(b);
      const config: EmscriptenModule = {
        locateFile: (path, prefix) => (path.endsWith('.worker.js') ? url : prefix + path),
        mainScriptUrlOrBlob: b.gluePath,
        instantiateWasm(imports, receive) {
          // tfjs sizes the pool min(threads, 8, cores / 2) from this; make the cap the threads asked.
          imports.env = { ...imports.env, emscripten_num_logical_cores: () => 2 * threads };
          WebAssembly.instantiate(b.wasm, imports).then((r) => receive(r.instance, r.module), fail);
          return {};
        },
      };
      const ready = b.factory(config);
      const pt = config.PThread;
      if (!pt) throw new Error('the threaded build has no pthread support');
      pthread = pt;
      // XNNPACK runs threads - 1 workers (the caller is thread 0): stop the rest of Emscripten's pool
      // before they load the module. One is kept at 1 thread: the module does not start until a worker
      // of its pool has loaded (it then idles, waiting for a message).
      for (const w of pt.unusedWorkers.splice(Math.max(1, threads - 1))) void w.terminate();
      // Until the backend is up, a worker error means "no threads" (Emscripten would throw it from an
      // event handler and crash the process); once it is up, Emscripten's own handling applies again.
      // The workers of a start that failed keep these handlers: their late errors are ignored.
      const onError = (e: Error) => fail(e);
      const watched = [...pt.unusedWorkers];
      for (const w of watched) w.on('error', onError);
      const load = pt.loadWasmModuleToWorker;
      pt.loadWasmModuleToWorker = (w, done) => {
        load.call(pt, w, done);
        const own = w.onerror;
        w.onerror = (e) => (started ? own?.call(w, e) : fail(e));
      };
      restore = () => {
        for (const w of watched) w.off('error', onError);
        pt.loadWasmModuleToWorker = load;
      };
      ready
        .then((m) => {
          if (settled) return;
          const cwrap = m.cwrap;
          if (!cwrap) throw new Error('the threaded build has no cwrap');
          // What tfjs's init() attaches to the module it starts.
          m.tfjs = {
            init: cwrap('init', null, []),
            initWithThreadsCount: cwrap('init_with_threads_count', null, ['number']),
            getThreadsCount: cwrap('get_threads_count', 'number', []),
            registerTensor: cwrap('register_tensor', null, ['number', 'number', 'number']),
            disposeData: cwrap('dispose_data', null, ['number']),
            dispose: cwrap('dispose', null, []),
          };
          pkg.setThreadsCount(threads);
          const backend = new pkg.BackendWasm(m as never); // starts XNNPACK's pool
          // Running pthreads are ref'ed by Emscripten: they would keep a finished script alive.
          for (const w of pt.runningWorkers) w.unref();
          settled = started = true;
          clearTimeout(timer);
          restore();
          restoreWorker();
          resolve(backend);
        })
        .catch(fail);
    } catch (e) {
      fail(e);
    }
  });
}

/** tfjs's own factory for 'wasm' (its single-threaded build in Node), kept when ours replaces it. */
let tfjsFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | undefined;
/** Threads our registered factory starts with (undefined while tfjs's factory is registered). */
let registeredThreads: { threads: number; xnnpack: number } | undefined;
/** Threads the threaded build computes with once it has started (1 after a fallback to tfjs's build). */
let startedThreads: number | undefined;

/**
 * Threads the wasm backend computes with in this process: what it started with (1 for tfjs's
 * single-threaded build, also after a fallback to it); undefined before it starts.
 */
export function wasmThreads(pkg: WasmBackendPackage): number | undefined {
  if (!wasmStarted()) return undefined;
  return startedThreads ?? pkg.getThreadsCount();
}

function warn(message: string): void {
  console.warn(`ldmae: ${message}`);
}

/** Whether the wasm backend has been initialised in this process (its thread count is then fixed). */
function wasmStarted(): boolean {
  return 'wasm' in (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
}

/**
 * Make the 'wasm' backend start with `threads` threads when it is first set (Node), `xnnpack` of them
 * (default all) in XNNPACK's pool. 1 thread keeps tfjs's single-threaded build; 2..8 register a
 * factory for the threaded build that falls back to the single-threaded build, with a warning, when its
 * workers cannot start. Once the backend has started its thread counts are fixed: different counts are
 * then reported with a warning (`explicit` only).
 */
export function configureWasmThreads(
  pkg: WasmBackendPackage,
  threads: number,
  explicit: boolean,
  xnnpack: number = threads,
): void {
  if (wasmStarted()) {
    const actual = wasmThreads(pkg) ?? 1;
    const actualXnnpack = pkg.getThreadsCount();
    const wanted = Math.min(threads, WASM_MAX_THREADS);
    if (explicit && (actual !== wanted || actualXnnpack !== Math.min(xnnpack, wanted))) {
      warn(
        `the wasm backend already runs with ${actual} thread${actual === 1 ? '' : 's'} (${actualXnnpack} in XNNPACK's pool) ` +
          `in this process; threads: ${threads} (${Math.min(xnnpack, wanted)} in XNNPACK's pool) take effect in a new process`,
      );
    }
    return;
  }
  if (threads > WASM_MAX_THREADS) {
    if (explicit) warn(`threads: ${threads} is more than the wasm backend runs; using ${WASM_MAX_THREADS}`);
    threads = WASM_MAX_THREADS;
  }
  xnnpack = Math.min(xnnpack, threads);
  pkg.setThreadsCount(xnnpack);
  if (registeredThreads?.threads === threads && registeredThreads.xnnpack === xnnpack) return;
  if (registeredThreads === undefined) tfjsFactory = tf.findBackendFactory('wasm') ?? undefined;
  const original = tfjsFactory;
  if (!original) throw new Error('@tensorflow/tfjs-backend-wasm did not register its backend');
  tf.removeBackend('wasm');
  if (threads === 1) {
    tf.registerBackend('wasm', original, WASM_PRIORITY);
    registeredThreads = undefined;
    return;
  }
  const n = threads;
  const x = xnnpack;
  tf.registerBackend(
    'wasm',
    async () => {
      try {
        const backend = await startThreaded(pkg, x);
        startedThreads = n;
        return backend;
      } catch (e) {
        const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
        warn(`wasm threads could not start (${reason}); using the single-threaded wasm build`);
        pkg.setThreadsCount(1);
        startedThreads = 1;
        return original();
      }
    },
    WASM_PRIORITY,
  );
  registeredThreads = { threads: n, xnnpack: x };
}
