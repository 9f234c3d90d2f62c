/**
 * Diagonally pivoted (rank-revealing) Cholesky factorisation of a symmetric positive semi-definite
 * matrix, blocked like LAPACK's dpstrf: the columns of a block are computed left-looking from the
 * block's own columns, and the rest of the matrix receives the block's rank-`jb` update: on the
 * WebAssembly product tile in place when the arena is available, else in plain arrays (both in gemm.ts).
 * Only the upper triangle of the Schur complement is kept. Internal: not exported from the package.
 */
import { subtractGramUpper, subtractGramUpperInArena } from './gemm.js';
import { arena, Batch, G64, NO_DIAG, releaseArena } from './wasm.js';

/** Columns per block: the inner dimension of the trailing update. */
const NB = 64;

/** Result of {@link pivotedCholeskyInPlace}. */
export interface PivotedCholesky {
  /** Number of pivots taken: the numerical rank r. */
  rank: number;
  /**
   * L^T as a row-major [r, n] matrix in the original coordinates (A ~ L L^T, row k of `lt` is column k
   * of L), or null when the factor was not asked for.
   */
  lt: Float64Array | null;
  /** pivots[k] is the original index of the k-th pivot (length r). */
  pivots: Int32Array;
  /**
   * `complete`: every index was pivoted on. `stopped`: every remaining diagonal entry of the Schur
   * complement fell to `tol` or below, so the rank is r < n. `negative`: a diagonal entry of a Schur
   * complement fell below `-negativeLimit`, which a PSD matrix cannot do (up to rounding); the
   * factorisation was abandoned there.
   */
  status: 'complete' | 'stopped' | 'negative';
  /**
   * A lower bound on the smallest eigenvalue of the Schur complement C left over (Gershgorin:
   * min_i C_ii - sum_{j != i} |C_ij|), and so, as A = L L^T + P^T diag(0, C) P, on the smallest
   * eigenvalue of A when it is negative. 0 when `complete`, -Infinity when `negative`.
   */
  remainderBound: number;
}

/**
 * Pivoted Cholesky A = L L^T (+ a remainder with diagonal <= tol): at each step the largest remaining
 * diagonal entry of the Schur complement is the pivot; the factorisation stops when it is <= tol.
 *
 * @param a - row-major [n, n] symmetric matrix (the upper triangle is read). May be overwritten (the
 *   workspace for the shrinking Schur complement when the WebAssembly arena is not available).
 * @param tol - stop when the largest remaining diagonal entry is <= tol (e.g. n eps max_i A_ii).
 * @param negativeLimit - report `negative` as soon as a Schur complement diagonal entry is below
 *   -negativeLimit.
 * @param wantFactor - return L^T (an [r, n] array); false only runs the checks.
 */
export function pivotedCholeskyInPlace(
  a: Float64Array,
  n: number,
  tol: number,
  negativeLimit: number,
  wantFactor: boolean,
): PivotedCholesky {
  const nbMax = Math.min(NB, n);
  // The Schur complement lives in the WebAssembly arena when there is one, followed by the block's
  // columns Lb^T [nbMax, n], the packed operands of the update and the scratch of the column products,
  // so that both products run on the tile in place.
  const lbOff = n * n;
  const gOff = lbOff + nbMax * n;
  const dOff = gOff + 2 * n * nbMax;
  const ar = arena((dOff + 4 * nbMax + 4 * (n + 4)) * 8);
  try {
    if (ar === null) {
      const lbT = new Float64Array(nbMax * n);
      return factor(a, n, tol, negativeLimit, wantFactor, lbT, plainDots(a, lbT, n), plainUpdate);
    }
    const h = new Float64Array(ar.memory.buffer);
    h.set(a.subarray(0, n * n));
    const w = h.subarray(0, n * n);
    const lbT = h.subarray(lbOff, gOff);
    const ops = new Batch(ar);
    return factor(
      w,
      n,
      tol,
      negativeLimit,
      wantFactor,
      lbT,
      arenaDots(ops, h, n, lbOff, dOff, nbMax),
      arenaUpdate(ops, h, gOff),
    );
  } finally {
    if (ar) releaseArena();
  }
}

/**
 * Column jb of the block before scaling, for every local row i < m (pivoted ones too, ignored):
 * A[i, p] - sum_{t < jb} Lb[i, t] Lb[p, t], A read from the upper triangle of the [m, m] Schur complement.
 * Returns the array holding it (index i).
 */
type ColumnDots = (m: number, p: number, jb: number) => Float64Array;

/** Row p of the Schur complement (upper triangle) into out[0..m). */
function rowOf(a: Float64Array, m: number, p: number, out: Float64Array, at: number): void {
  for (let i = 0; i < p; i++) out[at + i] = a[i * m + p];
  for (let i = p; i < m; i++) out[at + i] = a[p * m + i];
}

/** {@link ColumnDots} in plain arrays: one pass along Lb^T's rows per earlier column. */
function plainDots(a: Float64Array, lbT: Float64Array, n: number): ColumnDots {
  const out = new Float64Array(n);
  return (m, p, jb) => {
    rowOf(a, m, p, out, 0);
    for (let t = 0; t < jb; t++) {
      const row = t * n;
      const f = lbT[row + p];
      if (f === 0) continue;
      for (let i = 0; i < m; i++) out[i] -= lbT[row + i] * f;
    }
    return out;
  };
}

/**
 * {@link ColumnDots} on the product tile: C (row 0 of a 4-row scratch, starting as row p) += A B with A
 * the one-row panel (-Lb[p, 0..jb), 0, 0, 0) and B = Lb^T read in place. Rows 1-3 of A are zero, so
 * those of C stay zero.
 */
function arenaDots(
  batch: Batch,
  h: Float64Array,
  n: number,
  lbOff: number,
  off: number,
  nbMax: number,
): ColumnDots {
  const aOff = off;
  const cOff = off + 4 * nbMax;
  const cRow = n + 4;
  h.fill(0, aOff, cOff + 4 * cRow);
  const out = h.subarray(cOff, cOff + cRow);
  return (m, p, jb) => {
    rowOf(h, m, p, h, cOff);
    for (let t = 0; t < jb; t++) h[aOff + t * 4] = -h[lbOff + t * n + p];
    batch.add(G64, aOff * 8, lbOff * 8, 32, n * 8, cOff * 8, cRow * 8, 32, 1, Math.ceil(m / 4), jb, NO_DIAG);
    batch.run();
    return out;
  };
}

/** C -= G G^T over the upper triangle of the row-major [m, m] C at the front of `a`; G is [m, jb]. */
type SchurUpdate = (a: Float64Array, g: Float64Array, m: number, jb: number) => void;

const plainUpdate: SchurUpdate = (a, g, m, jb) =>
  subtractGramUpper({ src: g, off: 0, si: jb, st: 1 }, m, m, jb, a, m);

/** The update with C at the start of the arena, on the tile in place (packing room at `pg`). */
function arenaUpdate(batch: Batch, h: Float64Array, pg: number): SchurUpdate {
  return (_a, g, m, jb) =>
    subtractGramUpperInArena(batch, h, { src: g, off: 0, si: jb, st: 1 }, m, m, jb, 0, m, pg);
}

function factor(
  a: Float64Array,
  n: number,
  tol: number,
  negativeLimit: number,
  wantFactor: boolean,
  lbT: Float64Array,
  dots: ColumnDots,
  update: SchurUpdate,
): PivotedCholesky {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const lt = wantFactor ? new Float64Array(n * n) : null;
  const nbMax = Math.min(NB, n);
  const g = new Float64Array(n * nbMax);
  const d = new Float64Array(n);
  const taken = new Uint8Array(n);
  const rem = new Int32Array(n);
  const pivots = new Int32Array(n);
  let rank = 0;
  // The Schur complement of the pivots so far is the upper triangle of the leading [m, m] of `a`, local
  // index i standing for original index idx[i].
  let m = n;
  const result = (status: PivotedCholesky['status'], remainderBound: number): PivotedCholesky => ({
    rank,
    lt: lt ? lt.slice(0, rank * n) : null,
    pivots: pivots.slice(0, rank),
    status,
    remainderBound,
  });
  while (m > 0) {
    for (let i = 0; i < m; i++) {
      d[i] = a[i * m + i];
      taken[i] = 0;
    }
    const nb = Math.min(nbMax, m);
    let jb = 0;
    let stopped = false;
    for (; jb < nb; jb++) {
      let p = -1;
      let best = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < m; i++) {
        if (taken[i] === 0 && d[i] > best) {
          best = d[i];
          p = i;
        }
      }
      if (!(best > tol)) {
        stopped = true;
        break;
      }
      taken[p] = 1;
      const s = Math.sqrt(best);
      const inv = 1 / s;
      // Column jb of the block (Lb^T's row jb): (A[i, p] - sum_t Lb[i, t] Lb[p, t]) / s.
      const col = dots(m, p, jb);
      const lrow = jb * n;
      lbT[lrow + p] = s;
      let negative = false;
      for (let i = 0; i < m; i++) {
        if (taken[i] !== 0) continue;
        const v = col[i] * inv;
        lbT[lrow + i] = v;
        d[i] -= v * v;
        if (d[i] < -negativeLimit) negative = true;
      }
      if (lt) {
        const row = rank * n;
        lt[row + idx[p]] = s;
        for (let i = 0; i < m; i++) if (taken[i] === 0) lt[row + idx[i]] = lbT[lrow + i];
      }
      pivots[rank++] = idx[p];
      if (negative) return result('negative', Number.NEGATIVE_INFINITY);
    }
    let m2 = 0;
    for (let i = 0; i < m; i++) if (taken[i] === 0) rem[m2++] = i;
    if (m2 === 0) return result('complete', 0);
    if (jb > 0) {
      // Compact the remaining rows and columns to the front of `a`, the upper triangle only (the update
      // below and the reads above use no other). `rem` increases, so every entry is read before its slot
      // is overwritten.
      for (let r = 0; r < m2; r++) {
        const src = rem[r] * m;
        const dst = r * m2;
        for (let c = r; c < m2; c++) a[dst + c] = a[src + rem[c]];
        const gr = r * jb;
        for (let t = 0; t < jb; t++) g[gr + t] = lbT[t * n + rem[r]];
        idx[r] = idx[rem[r]];
      }
      // Schur complement update C -= G G^T (upper triangle).
      update(a, g.subarray(0, m2 * jb), m2, jb);
    }
    m = m2;
    if (stopped) return result('stopped', gershgorinLowerBound(a, m));
  }
  return result('complete', 0);
}

/**
 * min_i (C_ii - sum_{j != i} |C_ij|) for the symmetric [m, m] matrix whose upper triangle is at the
 * front of c, row-major.
 */
function gershgorinLowerBound(c: Float64Array, m: number): number {
  const off = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    for (let j = i + 1; j < m; j++) {
      const v = Math.abs(c[i * m + j]);
      off[i] += v;
      off[j] += v;
    }
  }
  let bound = Number.POSITIVE_INFINITY;
  for (let i = 0; i < m; i++) bound = Math.min(bound, c[i * m + i] - off[i]);
  return bound;
}
