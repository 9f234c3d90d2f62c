/**
 * Diagonally pivoted (rank-revealing) Cholesky factorisation of a symmetric positive semi-definite
 * matrix, blocked like LAPACK's dpstrf: the columns of a block are computed left-looking from the
 * block's own columns, and the rest of the matrix receives the block's rank-`jb` update through the
 * cache-blocked {@link multiplyABt}. Internal: not exported from the package.
 */
import { mirrorUpper, multiplyABt } from './gemm.js';

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
 * @param a - row-major [n, n] symmetric matrix, both triangles stored. Overwritten (used as the
 *   workspace for the shrinking Schur complement).
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
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const lt = wantFactor ? new Float64Array(n * n) : null;
  const nbMax = Math.min(NB, n);
  const lb = new Float64Array(n * nbMax);
  const g = new Float64Array(n * nbMax);
  const ng = new Float64Array(n * nbMax);
  const d = new Float64Array(n);
  const taken = new Uint8Array(n);
  const rem = new Int32Array(n);
  const pivots = new Int32Array(n);
  let rank = 0;
  // The Schur complement of the pivots so far is the leading [m, m] of `a`, local index i standing for
  // original index idx[i].
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
      const rp = p * nbMax;
      const ap = p * m;
      lb[rp + jb] = s;
      let negative = false;
      // Column jb of the block: (A[i, p] - sum_t Lb[i, t] Lb[p, t]) / s, row p of A read for column p.
      for (let i = 0; i < m; i++) {
        if (taken[i] !== 0) continue;
        const ri = i * nbMax;
        let s0 = a[ap + i];
        let s1 = 0;
        let t = 0;
        for (; t + 1 < jb; t += 2) {
          s0 -= lb[ri + t] * lb[rp + t];
          s1 -= lb[ri + t + 1] * lb[rp + t + 1];
        }
        if (t < jb) s0 -= lb[ri + t] * lb[rp + t];
        const v = (s0 + s1) * inv;
        lb[ri + jb] = v;
        d[i] -= v * v;
        if (d[i] < -negativeLimit) negative = true;
      }
      if (lt) {
        const row = rank * n;
        lt[row + idx[p]] = s;
        for (let i = 0; i < m; i++) if (taken[i] === 0) lt[row + idx[i]] = lb[i * nbMax + jb];
      }
      pivots[rank++] = idx[p];
      if (negative) return result('negative', Number.NEGATIVE_INFINITY);
    }
    let m2 = 0;
    for (let i = 0; i < m; i++) if (taken[i] === 0) rem[m2++] = i;
    if (m2 === 0) return result('complete', 0);
    if (jb > 0) {
      // Compact the remaining rows and columns to the front of `a`, the upper triangle only (the update
      // below reads and writes no other, and the mirror restores the lower one). `rem` increases, so
      // every entry is read before its slot is overwritten.
      for (let r = 0; r < m2; r++) {
        const src = rem[r] * m;
        const dst = r * m2;
        for (let c = r; c < m2; c++) a[dst + c] = a[src + rem[c]];
        const gr = r * jb;
        const lr = rem[r] * nbMax;
        for (let t = 0; t < jb; t++) {
          const v = lb[lr + t];
          g[gr + t] = v;
          ng[gr + t] = -v;
        }
        idx[r] = idx[rem[r]];
      }
      // Schur complement update C -= G G^T (upper triangle), then mirror it.
      multiplyABt(ng, m2, g, m2, jb, a, { accumulate: true, upper: true });
      mirrorUpper(a, m2);
    }
    m = m2;
    if (stopped) return result('stopped', gershgorinLowerBound(a, m));
  }
  return result('complete', 0);
}

/** min_i (C_ii - sum_{j != i} |C_ij|) for the row-major [m, m] symmetric matrix at the front of c. */
function gershgorinLowerBound(c: Float64Array, m: number): number {
  let bound = Number.POSITIVE_INFINITY;
  for (let i = 0; i < m; i++) {
    const ri = i * m;
    let off = 0;
    for (let j = 0; j < m; j++) if (j !== i) off += Math.abs(c[ri + j]);
    bound = Math.min(bound, c[ri + i] - off);
  }
  return bound;
}
