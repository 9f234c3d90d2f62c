/**
 * Our product kernel on several threads in Node: worker threads instantiate the kernel's module on the
 * wasm backend's shared heap (tfjs's threaded build) and each runs its share of a product's pieces,
 * woken and joined through Atomics on a shared control block. The calling thread runs the first share
 * itself. A worker whose share throws says so (done = `FAILED`) and stops; the caller then runs
 * that share and switches the pool off. One that gives no answer within `JOIN_TIMEOUT_MS` is
 * taken for gone in the same way.
 */
import { Worker } from 'node:worker_threads';
import { PIECE_INTS, type ProductPool, runPiece, setProductPool } from './kernels/gemm-parallel.js';
import { gemmKernels, gemmModule } from './kernels/gemm-simd.js';
import { isSharedMemory } from './kernels/simd.js';

/** Most pieces one run takes (a larger batch runs in several rounds). */
const CAPACITY = 4096;
/** Ints of a worker's header: sequence number, done number, first piece, piece count. */
const HEADER = 4;
/**
 * How long the caller waits for a worker's share before taking the worker for gone and running the
 * share itself. A share takes milliseconds; only a worker stopped from outside stays silent this long.
 */
const JOIN_TIMEOUT_MS = 600_000;
/** The done number of a worker whose share threw (it has stopped, and wrote nothing more). */
const FAILED = -2;

/** A pool of worker threads for products on one shared heap (see {@link createProductPool}). */
export interface NodeProductPool extends ProductPool {
  /** Whether every worker has its kernels (until then products run on the calling thread alone). */
  readonly ready: boolean;
  /** Resolves when every worker has its kernels (true) or one failed to start (false). */
  whenReady(): Promise<boolean>;
  /** End the workers; products then run on the calling thread. */
  close(): void;
}

// A worker: instantiate the kernels on the shared heap, say so (done = 0), then run each share it is
// woken for and store its sequence number as done. A negative sequence number ends it; a share that
// throws stores FAILED as done, and the worker stops.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, slot, table, pieceInts } = workerData;
const { blocked } = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
const c = new Int32Array(control);
const h = slot * ${HEADER};
Atomics.store(c, h + 1, 0);
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  Atomics.wait(c, h, seen);
  const seq = Atomics.load(c, h);
  if (seq === seen) continue;
  if (seq < 0) break;
  seen = seq;
  try {
    const end = c[h + 2] + c[h + 3];
    for (let i = c[h + 2]; i < end; i++) {
      const o = table + i * pieceInts;
      blocked(c[o], c[o + 1], c[o + 2], c[o + 3], c[o + 4], c[o + 5], c[o + 6], c[o + 7], c[o + 8], c[o + 9], c[o + 10], c[o + 11], c[o + 12]);
    }
    Atomics.store(c, h + 1, seq);
  } catch (e) {
    Atomics.store(c, h + 1, ${FAILED});
    Atomics.notify(c, h + 1);
    throw e;
  }
  Atomics.notify(c, h + 1);
}
`;

class WorkerPool implements NodeProductPool {
  readonly capacity = CAPACITY;
  private readonly control: Int32Array;
  private readonly table: number;
  private readonly workers: Worker[] = [];
  private seq = 0;
  private broken = false;
  private readonly started: Promise<boolean>;

  constructor(
    readonly memory: WebAssembly.Memory,
    module: WebAssembly.Module,
    private readonly helpers: number,
  ) {
    this.table = helpers * HEADER;
    this.control = new Int32Array(new SharedArrayBuffer((this.table + CAPACITY * PIECE_INTS) * 4));
    const starts: Promise<boolean>[] = [];
    for (let w = 0; w < helpers; w++) {
      Atomics.store(this.control, w * HEADER + 1, -1); // not ready
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module,
          memory,
          control: this.control.buffer,
          slot: w,
          table: this.table,
          pieceInts: PIECE_INTS,
        },
      });
      worker.unref();
      starts.push(
        new Promise((resolve) => {
          worker.once('message', () => resolve(true));
          worker.once('exit', () => resolve(false));
        }),
      );
      worker.on('error', () => {
        this.broken = true;
      });
      this.workers.push(worker);
    }
    this.started = Promise.all(starts).then((ok) => ok.every(Boolean) && !this.broken);
  }

  whenReady(): Promise<boolean> {
    return this.started;
  }

  get threads(): number {
    return this.broken ? 1 : this.helpers + 1;
  }

  get ready(): boolean {
    for (let w = 0; w < this.helpers; w++) if (Atomics.load(this.control, w * HEADER + 1) < 0) return false;
    return true;
  }

  run(g: Parameters<ProductPool['run']>[0], pieces: Int32Array, ends: readonly number[]): void {
    const total = pieces.length / PIECE_INTS;
    if (this.broken || total > CAPACITY || !this.ready) {
      for (let i = 0; i < total; i++) runPiece(g, pieces, i);
      return;
    }
    const c = this.control;
    c.set(pieces, this.table);
    const seq = ++this.seq;
    for (let w = 0; w < this.helpers; w++) {
      const h = w * HEADER;
      const start = ends[w] ?? total;
      c[h + 2] = start;
      c[h + 3] = (ends[w + 1] ?? total) - start;
      Atomics.store(c, h, seq);
      Atomics.notify(c, h);
    }
    for (let i = 0; i < (ends[0] ?? total); i++) runPiece(g, pieces, i);
    for (let w = 0; w < this.helpers; w++) {
      const h = w * HEADER;
      for (;;) {
        const done = Atomics.load(c, h + 1);
        if (done === seq) break;
        if (done === FAILED || Atomics.wait(c, h + 1, done, JOIN_TIMEOUT_MS) === 'timed-out') {
          // The worker has stopped: its share is run here, and the pool is not used again.
          this.broken = true;
          for (let i = c[h + 2]; i < c[h + 2] + c[h + 3]; i++) runPiece(g, pieces, i);
          break;
        }
      }
    }
  }

  /** End the workers. */
  close(): void {
    this.broken = true;
    for (let w = 0; w < this.helpers; w++) {
      Atomics.store(this.control, w * HEADER, -1);
      Atomics.notify(this.control, w * HEADER);
    }
  }
}

/**
 * A pool of `threads - 1` workers (the caller is the first thread) for products on `memory`, or null
 * when the memory is not shared, the kernel cannot run there, or `threads` is 1.
 */
export function createProductPool(memory: WebAssembly.Memory, threads: number): NodeProductPool | null {
  const g = gemmKernels(memory);
  const module = g ? gemmModule(true, g.fused) : null;
  if (threads < 2 || !isSharedMemory(memory) || !module) return null;
  return new WorkerPool(memory, module, threads - 1);
}

let current: NodeProductPool | null = null;

/**
 * Run float32 products on `threads` threads on `memory` (the wasm backend's heap) from now on: starts
 * the workers, waits until they can compute, and installs the pool. Resolves false (and installs
 * none) where {@link createProductPool} gives none or a worker fails to start.
 */
export async function startProductPool(memory: WebAssembly.Memory, threads: number): Promise<boolean> {
  current?.close();
  setProductPool(null);
  current = createProductPool(memory, threads);
  if (!current || !(await current.whenReady())) {
    current?.close();
    current = null;
    return false;
  }
  setProductPool(current);
  return true;
}
