/**
 * Diagonally pivoted (rank-revealing) Cholesky factorisation of a symmetric positive semi-definite
 * matrix, blocked like LAPACK's dpstrf: the columns of a block are computed left-looking from the
 * block's own columns, and the rest of the matrix receives the block's rank-`jb` update: on the
 * WebAssembly product tile in place when the arena is available, else through {@link multiplyABt}.
 * Only the upper triangle of the Schur complement is kept. Internal: not exported from the package.
 */
import { multiplyABt } from './gemm.js';
import { type Arena, arena, Batch, G64, releaseArena } from './wasm.js';

/** Columns per block: the inner dimension of the trailing update. */
const NB = 48;
/** Rows and columns per product tile call of the trailing update. */
const U_ROWS = 64;
const U_COLS = 128;

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
  // The Schur complement lives in the WebAssembly arena when there is one (followed by the packed
  // operands of its update), so that the update runs on the product tile in place.
  const ar = arena((n * n + 2 * n * nbMax) * 8);
  try {
    const h = ar ? new Float64Array(ar.memory.buffer) : null;
    if (h) h.set(a.subarray(0, n * n));
    const w = h ? h.subarray(0, n * n) : a;
    return factor(w, n, tol, negativeLimit, wantFactor, ar && h ? arenaUpdate(ar, h, n, nbMax) : plainUpdate);
  } finally {
    if (ar) releaseArena();
  }
}

/** C -= G G^T over the upper triangle of the row-major [m, m] C at the front of `a`; G is [m, jb]. */
type SchurUpdate = (a: Float64Array, g: Float64Array, m: number, jb: number) => void;

const plainUpdate: SchurUpdate = (a, g, m, jb) => {
  const ng = g.map((v) => -v);
  multiplyABt(ng, m, g, m, jb, a, { accumulate: true, upper: true });
};

/**
 * The update with C at the start of the arena: G and -G packed after it in panels of 4 rows, C updated in
 * place by the product tile (tiles below the diagonal skipped), the last m mod 4 rows and columns in
 * plain loops.
 */
function arenaUpdate(ar: Arena, h: Float64Array, n: number, nbMax: number): SchurUpdate {
  const batch = new Batch(ar);
  const pg = n * n;
  const png = pg + n * nbMax;
  return (_a, g, m, jb) => {
    const m4 = m - (m % 4);
    for (let i = 0; i < m4; i += 4) {
      const base = i * jb;
      for (let t = 0; t < jb; t++) {
        for (let r = 0; r < 4; r++) {
          const v = g[(i + r) * jb + t];
          h[pg + base + t * 4 + r] = v;
          h[png + base + t * 4 + r] = -v;
        }
      }
    }
    for (let i0 = 0; i0 < m4; i0 += U_ROWS) {
      const mr = Math.min(U_ROWS, m4 - i0);
      for (let j0 = i0 - (i0 % U_COLS); j0 < m4; j0 += U_COLS) {
        const nc = Math.min(U_COLS, m4 - j0);
        batch.add(
          G64,
          (png + i0 * jb) * 8,
          (pg + j0 * jb) * 8,
          jb * 32,
          32,
          (i0 * m + j0) * 8,
          m * 8,
          32,
          mr / 4,
          nc / 4,
          jb,
          j0 - i0,
        );
      }
    }
    batch.run((m4 * m4 * jb) / 2);
    for (let i = 0; i < m; i++) {
      for (let j = i < m4 ? Math.max(i, m4) : i; j < m; j++) {
        let acc = 0;
        for (let t = 0; t < jb; t++) acc += g[i * jb + t] * g[j * jb + t];
        h[i * m + j] -= acc;
      }
    }
  };
}

function factor(
  a: Float64Array,
  n: number,
  tol: number,
  negativeLimit: number,
  wantFactor: boolean,
  update: SchurUpdate,
): PivotedCholesky {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const lt = wantFactor ? new Float64Array(n * n) : null;
  const nbMax = Math.min(NB, n);
  const lb = new Float64Array(n * nbMax);
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
      const rp = p * nbMax;
      const ap = p * m;
      lb[rp + jb] = s;
      let negative = false;
      // Column jb of the block: (A[i, p] - sum_t Lb[i, t] Lb[p, t]) / s, A[i, p] read from the upper
      // triangle (column p above the diagonal, row p from it).
      for (let i = 0; i < m; i++) {
        if (taken[i] !== 0) continue;
        const ri = i * nbMax;
        let s0 = i < p ? a[i * m + p] : a[ap + i];
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
      // below and the reads above use no other). `rem` increases, so every entry is read before its slot
      // is overwritten.
      for (let r = 0; r < m2; r++) {
        const src = rem[r] * m;
        const dst = r * m2;
        for (let c = r; c < m2; c++) a[dst + c] = a[src + rem[c]];
        const gr = r * jb;
        const lr = rem[r] * nbMax;
        for (let t = 0; t < jb; t++) g[gr + t] = lb[lr + t];
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
