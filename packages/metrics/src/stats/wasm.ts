/**
 * The WebAssembly SIMD kernels behind the statistics: a float64 and a float32 matrix-product tile and the
 * fused sweep of the Householder tridiagonalisation. The module (under 3 KB) is assembled here from its
 * instructions (no build step, no binary in the package) and compiled on first use; where WebAssembly or
 * its 128-bit SIMD is missing, every caller keeps its plain JavaScript loop. In Node the memory is shared
 * with helper threads that take calls from a {@link Batch}. Internal (only `setStatsThreads` /
 * `statsThreads` are exported from the package).
 *
 * The float64 product tile keeps the arithmetic of the JavaScript kernel entry by entry: each C[i, j]
 * receives, per chunk of the inner dimension, the chunk's products summed in order from zero, one lane
 * of a SIMD register per entry (broadcast form, no horizontal sums), and WebAssembly has no fused
 * multiply-add. So the results are the same bits, only faster.
 */
import {
  assembleWasmModule,
  WasmFunction as Fn,
  WASM_MAX_PAGES as MAX_PAGES,
  WASM_OP as op,
  WASM_SIMD_OP as simd,
  WASM_TYPE,
} from '@ldmae/core';

const I32 = WASM_TYPE.i32;
const F64 = WASM_TYPE.f64;
const V128 = WASM_TYPE.v128;

/**
 * Product tile over packed panels: C[4 ip + r, W jp + c] += sum_t A[t][4 ip + r] B[t][W jp + c] for
 * ip < mp, jp < np, t < kc, where W = 2 lanes x 2 registers. A is packed as [row panel][t][A_W] with
 * A_W = 4 (f64) or 8 (f32, two row groups of 4 per panel); B[t][W jp + c] is read at
 * pb + jp bPanel + t bStep + c esz (packed panels: bPanel = kc W esz, bStep = W esz; or straight from a
 * row-major matrix whose row t holds those columns: bPanel = W esz, bStep = its row stride in bytes); C
 * row 4 ip + r of column panel jp starts at pc + (4 ip + r) cRow + jp cPanel (row-major C: cRow = its
 * row stride in bytes, cPanel = W esz; C stored in panels of W columns: cRow = W esz, cPanel = the
 * panel's size in bytes). Column panels outermost, so a B panel is reused by every row
 * panel while it is in cache. `diag`: micro tiles whose last column 4 jp + W - 1 + diag lies left of
 * their first row 4 ip are skipped (the strict lower triangle in upper-triangle mode; pass a large value
 * otherwise).
 */
function productTile(fname: string, f32: boolean): Fn {
  const f = new Fn(fname, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [pa, pb, bPanel, bStep, pc, cRow, cPanel, mp, np, kc, diag] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const lanes = f32 ? 4 : 2;
  const esz = f32 ? 4 : 8;
  const W = 2 * lanes; // columns per micro tile
  const AW = f32 ? 8 : 4; // rows per packed A panel
  const add = f32 ? simd.f32Add : simd.f64Add;
  const mul = f32 ? simd.f32Mul : simd.f64Mul;
  const splat = f32 ? simd.load32Splat : simd.load64Splat;
  const align = f32 ? 2 : 3;
  const ip = f.local(I32);
  const jp = f.local(I32);
  const a = f.local(I32);
  const b = f.local(I32);
  const aEnd = f.local(I32);
  const cp = f.local(I32);
  const acc = Array.from({ length: 8 }, () => f.local(V128));
  const b0 = f.local(V128);
  const b1 = f.local(V128);
  const av = f.local(V128);
  f.loop(
    () => f.get(jp).get(np).op(op.i32GeS),
    () => {
      f.i32(0).set(ip);
      f.loop(
        () => f.get(ip).get(mp).op(op.i32GeS),
        () => {
          // Skip a micro tile strictly below the diagonal.
          f.get(jp)
            .i32(W)
            .op(op.i32Mul)
            .get(diag)
            .op(op.i32Add)
            .i32(W - 1)
            .op(op.i32Add);
          f.get(ip).i32(4).op(op.i32Mul).op(op.i32LtS, op.i32Eqz).op(op.if, op.void);
          for (const x of acc) f.zero().set(x);
          // a = pa + panel(ip) * kc * AW * esz (+ 4 esz for the second row group of an f32 panel)
          if (f32) {
            f.get(pa)
              .get(ip)
              .i32(1)
              .op(0x76 /* i32.shr_u */)
              .get(kc)
              .op(op.i32Mul)
              .i32(AW * esz)
              .op(op.i32Mul);
            f.op(op.i32Add)
              .get(ip)
              .i32(1)
              .op(op.i32And)
              .i32(4 * esz)
              .op(op.i32Mul)
              .op(op.i32Add)
              .set(a);
          } else {
            f.get(pa)
              .get(ip)
              .get(kc)
              .op(op.i32Mul)
              .i32(AW * esz)
              .op(op.i32Mul)
              .op(op.i32Add)
              .set(a);
          }
          f.get(a)
            .get(kc)
            .i32(AW * esz)
            .op(op.i32Mul)
            .op(op.i32Add)
            .set(aEnd);
          f.get(pb).get(jp).get(bPanel).op(op.i32Mul).op(op.i32Add).set(b);
          f.loop(
            () => f.get(a).get(aEnd).op(op.i32GeS),
            () => {
              f.get(b).v(simd.load, 4, 0).set(b0);
              f.get(b).v(simd.load, 4, 16).set(b1);
              for (let r = 0; r < 4; r++) {
                f.get(a)
                  .v(splat, align, r * esz)
                  .set(av);
                f.get(acc[2 * r])
                  .get(av)
                  .get(b0)
                  .v(mul)
                  .v(add)
                  .set(acc[2 * r]);
                f.get(acc[2 * r + 1])
                  .get(av)
                  .get(b1)
                  .v(mul)
                  .v(add)
                  .set(acc[2 * r + 1]);
              }
              f.inc(a, AW * esz);
              f.get(b).get(bStep).op(op.i32Add).set(b);
            },
          );
          for (let r = 0; r < 4; r++) {
            // cp = pc + (4 ip + r) cRow + jp cPanel
            f.get(pc).get(ip).i32(4).op(op.i32Mul).i32(r).op(op.i32Add).get(cRow).op(op.i32Mul).op(op.i32Add);
            f.get(jp).get(cPanel).op(op.i32Mul).op(op.i32Add).set(cp);
            for (let h = 0; h < 2; h++) {
              f.get(cp)
                .get(cp)
                .v(simd.load, 0, h * 16)
                .get(acc[2 * r + h])
                .v(add)
                .v(simd.store, 0, h * 16);
            }
          }
          f.op(op.end);
          f.inc(ip, 1);
        },
      );
      f.inc(jp, 1);
    },
  );
  return f;
}

/**
 * The sweep over rows j0..l of one step of the fused Householder tridiagonalisation (eigen.ts has the
 * JavaScript form), with byte addresses: `a` the matrix (row stride `n` elements), `e` and `p` the
 * vectors, `ri` / `ru` the rows i (the new reflector u) and pendingRow (the previous one, whose q is in
 * e). For each row j <= l and column k <= j: mode 0 and 1 apply the pending rank-2 update
 * a[j, k] -= f_j e[k] + g_j a[ru, k]; mode 0 and 2 then accumulate p = A u from the updated row
 * (p[k] += a[j, k] u_j for k < j, p[j] += sum_{k<j} a[j, k] u_k + a[j, j] u_j). Pairs of columns go
 * through f64x2, so the sums run in two lanes.
 */
function tridiagonalSweep(): Fn {
  const f = new Fn('trid', [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [a, n, e, p, ri, ru, j0, l, mode] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const j = f.local(I32);
  const rj = f.local(I32);
  const k = f.local(I32);
  const kEnd = f.local(I32);
  const update = f.local(I32);
  const dot = f.local(I32);
  const fj = f.local(F64);
  const gj = f.local(F64);
  const uj = f.local(F64);
  const v = f.local(F64);
  const s = f.local(F64);
  const fv = f.local(V128);
  const gv = f.local(V128);
  const uv = f.local(V128);
  const sv = f.local(V128);
  const vv = f.local(V128);
  const sv2 = f.local(V128);
  const addr = (base: number) => f.get(base).get(k).op(op.i32Add);
  const ld = (base: number) => addr(base).op(op.f64Load, 3, 0);
  const when = (flag: number, then: () => void) => {
    f.get(flag).op(op.if, op.void);
    then();
    f.op(op.end);
  };
  f.get(j0).set(j);
  f.get(mode).i32(2).op(0x47 /* i32.ne */).set(update);
  f.get(mode).i32(1).op(0x47).set(dot);
  /** One scalar column k: v = updated a[j, k]; `last`: the diagonal, else s and p[k] accumulate. */
  const column = (last: boolean) => {
    ld(rj).set(v);
    when(update, () => {
      f.get(v).get(fj).ld2(e, k).op(op.f64Mul).get(gj).ld2(ru, k).op(op.f64Mul).op(op.f64Add);
      f.op(op.f64Sub).set(v);
      addr(rj).get(v).op(op.f64Store, 3, 0);
    });
    when(dot, () => {
      if (last) {
        addr(p).ld2(p, k).get(s).get(v).get(uj).op(op.f64Mul).op(op.f64Add).op(op.f64Add);
        f.op(op.f64Store, 3, 0);
      } else {
        f.get(s).get(v).ld2(ri, k).op(op.f64Mul).op(op.f64Add).set(s);
        addr(p).ld2(p, k).get(v).get(uj).op(op.f64Mul).op(op.f64Add).op(op.f64Store, 3, 0);
      }
    });
  };
  f.loop(
    () => f.get(j).get(l).op(0x4a /* i32.gt_s */),
    () => {
      f.get(a).get(j).get(n).op(op.i32Mul).i32(3).op(op.i32Shl).op(op.i32Add).set(rj);
      f.get(j).i32(3).op(op.i32Shl).set(k);
      when(update, () => {
        ld(ru).tee(fj).v(simd.f64Splat).set(fv);
        ld(e).tee(gj).v(simd.f64Splat).set(gv);
      });
      when(dot, () => {
        ld(ri).tee(uj).v(simd.f64Splat).set(uv);
      });
      f.zero().set(sv);
      f.zero().set(sv2);
      // Columns below 4 floor(j / 4) in two pairs per iteration, each mode its own loop (two sums).
      f.get(j).i32(-4).op(op.i32And).i32(3).op(op.i32Shl).set(kEnd);
      f.i32(0).set(k);
      const pair = (m: number, off: number, acc: number) => {
        const vl = (base: number) => addr(base).v(simd.load, 3, off);
        vl(rj).set(vv);
        if (m !== 2) {
          f.get(vv).get(fv).get(e).get(k).op(op.i32Add).v(simd.load, 3, off).v(simd.f64Mul);
          f.get(gv).get(ru).get(k).op(op.i32Add).v(simd.load, 3, off).v(simd.f64Mul).v(simd.f64Add);
          f.v(simd.f64Sub).set(vv);
          addr(rj).get(vv).v(simd.store, 3, off);
        }
        if (m !== 1) {
          f.get(acc)
            .get(vv)
            .get(ri)
            .get(k)
            .op(op.i32Add)
            .v(simd.load, 3, off)
            .v(simd.f64Mul)
            .v(simd.f64Add)
            .set(acc);
          addr(p)
            .get(p)
            .get(k)
            .op(op.i32Add)
            .v(simd.load, 3, off)
            .get(vv)
            .get(uv)
            .v(simd.f64Mul)
            .v(simd.f64Add);
          f.v(simd.store, 3, off);
        }
      };
      for (const m of [0, 1, 2]) {
        f.get(mode).i32(m).op(0x46 /* i32.eq */).op(op.if, op.void);
        f.loop(
          () => f.get(k).get(kEnd).op(op.i32GeS),
          () => {
            pair(m, 0, sv);
            pair(m, 16, sv2);
            f.inc(k, 32);
          },
        );
        // One more pair when j mod 4 >= 2.
        f.get(j).i32(2).op(op.i32And).op(op.if, op.void);
        pair(m, 0, sv);
        f.inc(k, 16);
        f.op(op.end);
        f.op(op.end);
      }
      f.get(sv).get(sv2).v(simd.f64Add).set(sv);
      f.get(sv).v(simd.f64Extract, 0).get(sv).v(simd.f64Extract, 1).op(op.f64Add).set(s);
      f.get(j).i32(1).op(op.i32And).op(op.if, op.void);
      column(false);
      f.inc(k, 8);
      f.op(op.end);
      column(true);
      f.inc(j, 1);
    },
  );
  return f;
}

/** Arguments per kernel call (the longest signature); shorter ones ignore the rest. */
const ARGS = 11;
/** Kernel calls one batch can hold. */
const MAX_CALLS = 4096;

/**
 * Multiply-adds from which a batch is shared with the helper threads: about a millisecond of work, below
 * which waking a helper costs more than it saves.
 */
export const DEFAULT_PARALLEL_MIN_WORK = 2 ** 22;
let PARALLEL_MIN_WORK = DEFAULT_PARALLEL_MIN_WORK;

/** Moves that threshold (0: every batch of two or more calls is shared). For tests. */
export function setParallelMinWork(work: number): void {
  PARALLEL_MIN_WORK = work;
}

/** Kernel ids for {@link Batch.add}. */
export const G64 = 0;
export const G32 = 1;
export const TRID = 2;

/** The exported kernels (byte addresses into the arena's memory), by id. */
type Kernel = (...args: number[]) => void;

/** A WebAssembly memory with the kernels bound to it. Views must be taken after the last {@link arena} call. */
export interface Arena {
  memory: WebAssembly.Memory;
  kernels: Kernel[];
  shared: boolean;
}

/** `diag` value that never skips a micro tile. */
export const NO_DIAG = 1 << 30;

let compiled: { module: WebAssembly.Module; shared: boolean } | null | undefined;
let enabled = true;
let cached: Arena | null = null;
let holds = 0;
/** An arena above this size is dropped after use instead of kept for the next call. */
const KEEP_BYTES = 64 * 1024 * 1024;

/** Turns the WebAssembly kernels off (true: the plain JavaScript loops everywhere) or back on. For tests and benchmarks. */
export function setWasmEnabled(on: boolean): void {
  enabled = on;
}

/** Whether the kernels are available and enabled here. */
export function wasmAvailable(): boolean {
  return enabled && compile() !== null;
}

function kernelFunctions(): Fn[] {
  return [productTile('g64', false), productTile('g32', true), tridiagonalSweep()];
}

function compile(): { module: WebAssembly.Module; shared: boolean } | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    if (typeof WebAssembly !== 'object') return null;
    for (const shared of [true, false]) {
      if (shared) {
        // Shared memory only where helper threads can use it (Node): elsewhere an ordinary memory
        // avoids reserving the 4 GiB maximum that a shared one declares.
        if (nodeModule('node:worker_threads') === null) continue;
        if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') continue;
        try {
          new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
        } catch {
          continue;
        }
      }
      const bytes = assembleWasmModule(kernelFunctions(), shared);
      if (WebAssembly.validate(bytes)) {
        compiled = { module: new WebAssembly.Module(bytes), shared };
        break;
      }
    }
  } catch {
    compiled = null;
  }
  return compiled;
}

/**
 * The shared arena grown to at least `bytes`, or null when the kernels are unavailable, disabled or the
 * memory cannot be had (the caller then runs its JavaScript loop). Not re-entrant: one caller at a time
 * owns the memory from this call to its {@link releaseArena}.
 */
export function arena(bytes: number): Arena | null {
  if (!enabled) return null;
  const c = compile();
  if (!c) return null;
  // The kernels compare addresses as signed 32-bit integers: stay below 2 GiB.
  if (!(bytes < 2 ** 31)) return null;
  const pages = Math.ceil(bytes / 65536);
  try {
    if (cached === null) {
      const memory = c.shared
        ? new WebAssembly.Memory({ initial: Math.max(pages, 1), maximum: MAX_PAGES, shared: true })
        : new WebAssembly.Memory({ initial: Math.max(pages, 1) });
      const ex = new WebAssembly.Instance(c.module, { env: { mem: memory } }).exports;
      cached = { memory, kernels: [ex.g64, ex.g32, ex.trid] as Kernel[], shared: c.shared };
    } else {
      const have = cached.memory.buffer.byteLength / 65536;
      if (have < pages) cached.memory.grow(pages - have);
    }
  } catch {
    dropArena();
    return null;
  }
  return cached;
}

/**
 * Keeps the arena (and the worker threads bound to it) across the calls that a top-level function makes
 * until the matching {@link unhold}, whatever its size.
 */
export function hold(): void {
  holds++;
}

/** Ends a {@link hold}; then lets a large arena go. */
export function unhold(): void {
  holds--;
  releaseArena();
}

/** Lets a large arena go (so the garbage collector frees it) unless held; a small one stays for the next call. */
export function releaseArena(): void {
  if (holds === 0 && cached !== null && cached.memory.buffer.byteLength > KEEP_BYTES) dropArena();
}

function dropArena(): void {
  cached = null;
  dropPool();
}

function dropPool(): void {
  for (const w of pool?.workers ?? []) w.terminate();
  pool = null;
}

// ---------------------------------------------------------------------------------------------------
// Worker threads (Node): the calls of a batch are claimed one at a time by the calling thread and by
// helpers that share the arena's memory, so a busy core slows a batch down instead of stalling it.

let threads = defaultThreads();

interface NodeWorker {
  terminate(): unknown;
  unref(): void;
}
interface Pool {
  memory: WebAssembly.Memory;
  /** [0] job sequence (wakes the helpers), [1] calls done, [2] calls in the job, [3] a helper's call failed. */
  ctrl: Int32Array;
  /** [0] = job sequence << 32 | next unclaimed call. */
  next: BigInt64Array;
  calls: Int32Array;
  workers: NodeWorker[];
  seq: number;
}
let pool: Pool | null = null;

/** A Node built-in module, or null outside Node (or before Node 20.16, which lacks getBuiltinModule). */
function nodeModule(id: string): unknown {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.(id) ?? null;
  } catch {
    return null;
  }
}

function nodeOs(): { availableParallelism?: () => number; cpus: () => unknown[] } | null {
  return nodeModule('node:os') as ReturnType<typeof nodeOs>;
}

function defaultThreads(): number {
  const os = nodeOs();
  if (os === null) return 1;
  const n = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(8, n));
}

/**
 * Sets how many threads the statistics may use (the calling thread included) for the matrix products
 * and distance blocks of `frechetDistance`, `symmetricEigenvalues`, `FeatureStats`,
 * `precisionRecall` and `manifoldRadii`. Default: the machine's available parallelism, at
 * most 8; 1 keeps all the work on the calling thread. The results do not depend on it.
 *
 * Helper threads run only in Node (they need SharedArrayBuffer and a blocking wait on the calling
 * thread); in a browser the work stays on the calling thread whatever is set here.
 *
 * @param n - a positive integer.
 */
export function setStatsThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`setStatsThreads: threads must be a positive integer, got ${n}`);
  threads = n;
  // Going to 1 leaves the helpers idle (blocked, not holding the process open); another count rebuilds them.
  if (pool !== null && n > 1 && pool.workers.length !== n - 1) dropPool();
}

/** The thread count set by {@link setStatsThreads} (or its default). */
export function statsThreads(): number {
  return threads;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, ctrl, next, calls } = workerData;
const ex = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
const fns = [ex.g64, ex.g32, ex.trid];
const C = new Int32Array(ctrl);
const N = new BigInt64Array(next);
const A = new Int32Array(calls);
for (;;) {
  const seen = Atomics.load(C, 0);
  for (;;) {
    const cur = Atomics.load(N, 0);
    const idx = Number(cur & 0xffffffffn);
    if (idx >= Atomics.load(C, 2)) break;
    if (Atomics.compareExchange(N, 0, cur, cur + 1n) !== cur) continue;
    const o = idx * ${ARGS + 1};
    try {
      fns[A[o]](A[o + 1], A[o + 2], A[o + 3], A[o + 4], A[o + 5], A[o + 6], A[o + 7], A[o + 8], A[o + 9], A[o + 10], A[o + 11]);
    } catch {
      Atomics.store(C, 3, 1);
    }
    if (Atomics.add(C, 1, 1) + 1 >= Atomics.load(C, 2)) Atomics.notify(C, 1);
  }
  Atomics.wait(C, 0, seen);
}
`;

function getPool(ar: Arena): Pool | null {
  if (threads <= 1 || !ar.shared) return null;
  if (pool !== null && pool.memory === ar.memory) return pool;
  dropPool();
  const wt = nodeModule('node:worker_threads') as {
    Worker: new (src: string, opts: object) => NodeWorker;
  } | null;
  const c = compile();
  if (!wt || !c) return null;
  const ctrl = new SharedArrayBuffer(16);
  const next = new SharedArrayBuffer(8);
  const calls = new SharedArrayBuffer(MAX_CALLS * (ARGS + 1) * 4);
  const workers: NodeWorker[] = [];
  try {
    for (let i = 1; i < threads; i++) {
      const w = new wt.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory: ar.memory, module: c.module, ctrl, next, calls },
      });
      w.unref();
      workers.push(w);
    }
  } catch {
    for (const w of workers) w.terminate();
    return null;
  }
  pool = {
    memory: ar.memory,
    ctrl: new Int32Array(ctrl),
    next: new BigInt64Array(next),
    calls: new Int32Array(calls),
    workers,
    seq: 0,
  };
  return pool;
}

/** Where the float64 tile finds its operands (byte addresses and strides; see {@link productTile}). */
export interface TileOperands {
  /** A packed in panels of 4 rows ([panel][t][4]), the panels kc apart. */
  pa: number;
  pb: number;
  bPanel: number;
  bStep: number;
  pc: number;
  cRow: number;
  cPanel: number;
}

/**
 * Queues C[0:m4, 0:p4] += A B (inner dimension kc) on the float64 tile, in calls of up to `rows` x `cols`
 * entries (multiples of 4). `upper`: micro tiles strictly below the diagonal are skipped, the diagonal
 * being where column j + diagAt of C meets its row j (C's first column is column diagAt of a larger
 * matrix).
 */
export function queueTiles(
  batch: Batch,
  o: TileOperands,
  m4: number,
  p4: number,
  kc: number,
  upper = false,
  diagAt = 0,
  rows = 64,
  cols = 128,
): void {
  for (let i0 = 0; i0 < m4; i0 += rows) {
    const mr = Math.min(rows, m4 - i0);
    const first = upper ? Math.max(0, i0 - diagAt) : 0;
    for (let j0 = first - (first % cols); j0 < p4; j0 += cols) {
      const nc = Math.min(cols, p4 - j0);
      const jp = j0 / 4;
      batch.add(
        G64,
        o.pa + i0 * kc * 8,
        o.pb + jp * o.bPanel,
        o.bPanel,
        o.bStep,
        o.pc + i0 * o.cRow + jp * o.cPanel,
        o.cRow,
        o.cPanel,
        mr / 4,
        nc / 4,
        kc,
        upper ? j0 + diagAt - i0 : NO_DIAG,
      );
    }
  }
}

/**
 * A list of kernel calls that touch disjoint outputs, run together: on worker threads as well as this
 * one when they are available, else in order here. Which thread runs which call does not change any
 * result (each call's arithmetic is fixed).
 */
export class Batch {
  private readonly buf = new Int32Array(MAX_CALLS * (ARGS + 1));
  private count = 0;
  constructor(private readonly ar: Arena) {}

  /** Queues kernel `id` with its arguments (runs the batch first if it is full). */
  add(id: number, ...args: number[]): void {
    if (this.count === MAX_CALLS) this.run();
    const o = this.count * (ARGS + 1);
    this.buf[o] = id;
    for (let i = 0; i < args.length; i++) this.buf[o + 1 + i] = args[i];
    this.count++;
  }

  /**
   * Runs the queued calls and empties the batch. `work` (multiply-adds, about): helper threads join only
   * from PARALLEL_MIN_WORK on. (A helper that the system pauses in the middle of a call holds the batch
   * up until it runs again, which on a busy machine can take milliseconds.)
   */
  run(work = 0): void {
    const count = this.count;
    if (count === 0) return;
    this.count = 0;
    const p = count > 1 && work >= PARALLEL_MIN_WORK ? getPool(this.ar) : null;
    const fns = this.ar.kernels;
    const a = this.buf;
    const call = (idx: number) => {
      const o = idx * (ARGS + 1);
      fns[a[o]](...a.subarray(o + 1, o + 1 + ARGS));
    };
    if (p === null) {
      for (let i = 0; i < count; i++) call(i);
      return;
    }
    const { ctrl, next } = p;
    p.calls.set(a.subarray(0, count * (ARGS + 1)));
    p.seq = (p.seq + 1) | 0;
    Atomics.store(ctrl, 1, 0);
    Atomics.store(ctrl, 2, count);
    Atomics.store(next, 0, BigInt(p.seq >>> 0) << 32n);
    Atomics.store(ctrl, 0, p.seq);
    Atomics.notify(ctrl, 0);
    for (;;) {
      const cur = Atomics.load(next, 0);
      const idx = Number(cur & 0xffffffffn);
      if (idx >= count) break;
      if (Atomics.compareExchange(next, 0, cur, cur + 1n) !== cur) continue;
      call(idx);
      Atomics.add(ctrl, 1, 1);
    }
    for (;;) {
      const done = Atomics.load(ctrl, 1);
      if (done >= count) break;
      Atomics.wait(ctrl, 1, done, 1000);
    }
    if (Atomics.exchange(ctrl, 3, 0) !== 0)
      throw new Error('statistics: a kernel call failed on a helper thread');
  }
}
