/**
 * Products on several threads: how batch-matmul cuts a product (or a batch of them) into pieces of
 * the kernel's `blocked` call, one share per thread, and the pool that runs the shares (set in Node by
 * `setupBackend` when tfjs's threaded build gives the heap to several threads). Every entry of C is
 * computed by one thread in the same order as on one thread, so the result does not depend on the
 * thread count.
 */
import { type GemmKernels, gemmScratchBytes } from './gemm-simd.js';

/**
 * Ints per piece: the arguments of `blocked` (a, ars, aks, b, brs, bcs, c, ldc, m, n, k, scratch,
 * bias).
 */
export const PIECE_INTS = 13;

/** Products smaller than this many multiply-adds stay on the calling thread (waking a thread costs more). */
export const POOL_MIN_MACS = 1 << 20;

/** Runs the shares of a product's pieces on several threads at once. */
export interface ProductPool {
  /** The heap the pool's threads compute on. */
  readonly memory: WebAssembly.Memory;
  /** Threads that compute, the calling one included. */
  readonly threads: number;
  /** Most pieces one `run` takes. */
  readonly capacity: number;
  /**
   * Run `pieces` (PIECE_INTS each): thread p the pieces from `ends[p - 1]` (0 for p = 0) up to
   * `ends[p]`, thread 0 being the caller, with `g`. Returns when every share is done.
   */
  run(g: GemmKernels, pieces: Int32Array, ends: readonly number[]): void;
}

let pool: ProductPool | null = null;

/** Install (or remove, with null) the pool products run on. */
export function setProductPool(p: ProductPool | null): void {
  pool = p;
}

/** The pool for products on `memory`, when one with more than one thread runs there. */
export function productPool(memory: WebAssembly.Memory): ProductPool | null {
  return pool && pool.memory === memory && pool.threads > 1 ? pool : null;
}

/** Shape and strides (bytes) shared by the products of one call, and the bias address (0: none). */
export interface ProductShape {
  ars: number;
  aks: number;
  brs: number;
  bcs: number;
  ldc: number;
  m: number;
  n: number;
  k: number;
  bias: number;
}

/** Base addresses (bytes) of one product's A, B and C. */
export interface ProductBases {
  a: number;
  b: number;
  c: number;
}

/** Byte size of the scratch {@link planPieces} hands out: one kernel scratch per thread. */
export function parallelScratchBytes(n: number, threads: number): number {
  return gemmScratchBytes(n) * threads;
}

/**
 * Cut `products` (all of shape `s`) into at most `threads` shares: whole products per thread when there
 * are at least as many as threads, else each product cut along its rows (in multiples of 4, the tile)
 * or, for few rows, its columns (in multiples of 8). Thread p's pieces use the p-th kernel scratch at
 * `scratch`. Returns the pieces and where each thread's share ends.
 */
export function planPieces(
  products: readonly ProductBases[],
  s: ProductShape,
  threads: number,
  scratch: number,
): { pieces: Int32Array; ends: number[] } {
  const stride = gemmScratchBytes(s.n);
  const out: number[] = [];
  const ends: number[] = [];
  const piece = (p: ProductBases, row0: number, rows: number, col0: number, cols: number, t: number) =>
    out.push(
      p.a + row0 * s.ars,
      s.ars,
      s.aks,
      p.b + col0 * s.bcs,
      s.brs,
      s.bcs,
      p.c + row0 * s.ldc + col0 * 4,
      s.ldc,
      rows,
      cols,
      s.k,
      scratch + t * stride,
      s.bias && s.bias + col0 * 4,
    );
  const L = products.length;
  if (L >= threads) {
    for (let t = 0; t < threads; t++) {
      for (let i = Math.floor((t * L) / threads); i < Math.floor(((t + 1) * L) / threads); i++)
        piece(products[i], 0, s.m, 0, s.n, t);
      ends.push(out.length / PIECE_INTS);
    }
  } else {
    const byRows = s.m >= 16 * threads || s.m >= s.n;
    const size = byRows ? s.m : s.n;
    const unit = byRows ? 4 : 8;
    const units = Math.ceil(size / unit);
    for (let t = 0; t < threads; t++) {
      const from = Math.min(size, Math.floor((t * units) / threads) * unit);
      const to = Math.min(size, Math.floor(((t + 1) * units) / threads) * unit);
      if (to > from) {
        for (const p of products) {
          if (byRows) piece(p, from, to - from, 0, s.n, t);
          else piece(p, 0, s.m, from, to - from, t);
        }
      }
      ends.push(out.length / PIECE_INTS);
    }
  }
  return { pieces: Int32Array.from(out), ends };
}

/** Run one piece on the calling thread. */
export function runPiece(g: GemmKernels, pieces: Int32Array, i: number): void {
  const o = i * PIECE_INTS;
  const v = pieces;
  g.blocked(
    v[o],
    v[o + 1],
    v[o + 2],
    v[o + 3],
    v[o + 4],
    v[o + 5],
    v[o + 6],
    v[o + 7],
    v[o + 8],
    v[o + 9],
    v[o + 10],
    v[o + 11],
    v[o + 12],
  );
}
