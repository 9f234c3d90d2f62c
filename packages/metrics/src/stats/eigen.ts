/**
 * Symmetric eigendecomposition in float64: Householder reduction to tridiagonal form followed by the
 * implicit QL algorithm with Wilkinson-style shifts (the classic tred2 / tqli pair).
 *
 * The textbook versions walk matrix columns, which in a row-major Float64Array means a cache miss per
 * element at n = 2048. Here every inner loop runs along rows: A u is read from the lower triangle row
 * by row, the back-accumulation of the reflectors is written as row operations, and the QL rotations
 * act on rows of the transposed eigenvector matrix. The reduction makes one pass over the trailing
 * matrix per step (each step's rank-2 update fused with the next step's A u), and the QL convergence
 * test falls back to the absolute eps |T| when a strongly graded T stalls the relative one.
 */

import { atDoor } from '@ldmae/core';
import { tridiagonalizeTwoStage } from './band.js';
import { assertFloatArray, checkPositiveInt, type FloatArray, symmetricCopy } from './checks.js';
import { hypot } from './hypot.js';
import { arena, Batch, releaseArena, TRID } from './wasm.js';

/** Eigenvalues in ascending order and the matching orthonormal eigenvectors. */
export interface SymmetricEigen {
  /** The n eigenvalues, ascending. */
  values: Float64Array;
  /** Row-major [n, n]; column k is the unit eigenvector of values[k], so A V = V diag(values). */
  vectors: Float64Array;
}

/** Options of {@link symmetricEigen} and {@link symmetricEigenvalues}. */
export interface SymmetricEigenOptions {
  /**
   * Largest accepted |A[i,j] - A[j,i]|, relative to the largest |A[i,j]|. The matrix is symmetrised
   * (averaged with its transpose) before the decomposition. Default 1e-8.
   */
  symmetryTolerance?: number;
}

const EPS = 2.220446049250313e-16;
const MAX_QL_ITERATIONS = 60;
/** QL iterations on one eigenvalue after which the convergence test takes the absolute floor eps |T|. */
const STALL_ITERATIONS = 30;

/**
 * Eigendecomposition of a real symmetric matrix, A = V diag(values) V^T.
 *
 * @param a - row-major [n, n] symmetric matrix (not modified).
 * @param n - its order.
 * @returns ascending eigenvalues [n] and eigenvectors as the columns of a row-major [n, n] matrix.
 * @throws TypeError / RangeError when `a` is not a float array of n * n finite values, or not symmetric.
 */
export function symmetricEigen(a: FloatArray, n: number, opts: SymmetricEigenOptions = {}): SymmetricEigen {
  const w = prepare(a, n, opts);
  const { values, rows } = eigenSymmetricInPlace(w, n, true);
  return { values, vectors: transpose(rows!, n) };
}

/**
 * Eigenvalues only of a real symmetric matrix: about half the work of {@link symmetricEigen}.
 *
 * @param a - row-major [n, n] symmetric matrix (not modified).
 * @returns the n eigenvalues, ascending.
 */
export function symmetricEigenvalues(
  a: FloatArray,
  n: number,
  opts: SymmetricEigenOptions = {},
): Float64Array {
  const w = prepare(a, n, opts);
  return eigenSymmetricInPlace(w, n, false).values;
}

/** The checked float64 copy of `a` for symmetricEigen and symmetricEigenvalues (errors name the first). */
function prepare(a: FloatArray, n: number, opts: SymmetricEigenOptions): Float64Array {
  return atDoor('symmetricEigen', () => {
    checkPositiveInt('n', n);
    assertFloatArray('a', a, n * n);
    const tol = opts.symmetryTolerance ?? 1e-8;
    if (!(tol >= 0)) throw new RangeError(`opts.symmetryTolerance must be >= 0, got ${tol}`);
    return symmetricCopy('a', a, n, tol);
  });
}

/**
 * Decomposes the symmetric matrix held in `w` (overwritten). Internal.
 *
 * @returns ascending eigenvalues and, when asked, the eigenvectors as the rows of a row-major [n, n]
 *   matrix (row k belongs to values[k]): the layout the Fréchet distance wants.
 */
export function eigenSymmetricInPlace(
  w: Float64Array,
  n: number,
  wantVectors: boolean,
): { values: Float64Array; rows: Float64Array | null } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const done =
    !wantVectors &&
    ((n >= TWO_STAGE_MIN_ORDER && tridiagonalizeTwoStage(w, n, d, e)) ||
      (n >= WASM_MIN_ORDER && tridiagonalizeWasm(w, n, d, e)));
  if (!done) tridiagonalize(w, n, d, e, wantVectors);
  const rows = wantVectors ? transpose(w, n) : null;
  implicitQl(d, e, n, rows);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[i] - d[j]);
  const values = new Float64Array(n);
  for (let k = 0; k < n; k++) values[k] = d[order[k]];
  if (!rows) return { values, rows: null };
  const sorted = new Float64Array(n * n);
  for (let k = 0; k < n; k++) sorted.set(rows.subarray(order[k] * n, order[k] * n + n), k * n);
  return { values, rows: sorted };
}

/** Orders below this reduce in JavaScript. */
const WASM_MIN_ORDER = 32;
/**
 * Orders from this on (values only) reduce in two stages, band then tridiagonal (band.ts): below it the
 * one-stage sweep, whose matrix still fits in the cache, measured faster.
 */
let TWO_STAGE_MIN_ORDER = 1536;

/** Moves the order from which {@link eigenSymmetricInPlace} takes the two-stage route. For tests. */
export function setTwoStageMinOrder(n: number): void {
  TWO_STAGE_MIN_ORDER = n;
}

/**
 * {@link tridiagonalize} without vectors, the matrix copied into WebAssembly memory and each step's
 * sweep over the trailing rows run by the SIMD kernel (the per-step O(n) work stays here). The sums of
 * the sweep run in two lanes, so the result differs from the JavaScript loop by rounding only.
 *
 * @returns false when the kernels are not available (nothing done).
 */
function tridiagonalizeWasm(w: Float64Array, n: number, d: Float64Array, e: Float64Array): boolean {
  const nn = n * n;
  // a, e, then GROUPS partial p vectors.
  const ar = arena((nn + n + GROUPS * n) * 8);
  if (ar === null) return false;
  const h = new Float64Array(ar.memory.buffer);
  h.set(w.subarray(0, nn));
  const a = h.subarray(0, nn);
  const ew = h.subarray(nn, nn + n);
  const pOff = nn + n;
  const p = h.subarray(pOff, pOff + n);
  const batch = new Batch(ar);
  const bounds = new Int32Array(GROUPS + 1);
  tridiagonalize(a, n, d, ew, false, p, (i, pendingRow, l, mode) => {
    // Rows 0..l in groups of about equal work (row j costs j), each accumulating into its own p, added up
    // in a fixed order afterwards: the same sums whichever thread runs which group.
    const groups = l < GROUP_MIN_ROWS ? 1 : GROUPS;
    bounds[0] = 0;
    for (let g = 1; g < groups; g++) bounds[g] = Math.round((l + 1) * Math.sqrt(g / groups));
    bounds[groups] = l + 1;
    for (let g = 0; g < groups; g++) {
      const pg = pOff + g * n;
      if (g > 0 && mode !== 1) h.fill(0, pg, pg + l + 1);
      const ru = Math.max(pendingRow, 0) * n * 8;
      batch.add(TRID, 0, n, nn * 8, pg * 8, i * n * 8, ru, bounds[g], bounds[g + 1] - 1, mode);
    }
    batch.run();
    if (mode !== 1) {
      for (let g = 1; g < groups; g++) {
        const pg = pOff + g * n;
        for (let k = 0; k <= l; k++) p[k] += h[pg + k];
      }
    }
  });
  e.set(ew);
  releaseArena();
  return true;
}

/** Row groups of one sweep (fixed, so that the sums do not depend on the number of threads). */
const GROUPS = 4;
/** Sweeps over fewer rows run as one group. */
const GROUP_MIN_ROWS = 256;

/**
 * Householder reduction of the symmetric matrix in `a` (lower triangle used) to tridiagonal form:
 * diagonal in d, sub-diagonal in e[1..n-1] (e[0] = 0). With `wantVectors`, `a` ends up holding the
 * orthogonal Q with A = Q T Q^T.
 */
function tridiagonalize(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  wantVectors: boolean,
  p: Float64Array = new Float64Array(n),
  sweep?: (i: number, pendingRow: number, l: number, mode: number) => void,
): void {
  // Step i reflects row i; its symmetric rank-2 update A -= u q^T + q u^T of the leading [i, i] block is
  // applied to row i - 1 at once (the next step reads it) and to rows 0..i-2 during the next step's
  // sweep, which also accumulates p = A u of the next reflector from the freshly updated rows. One pass
  // over the trailing triangle per step instead of two; the arithmetic is that of the two-pass form.
  // The pending update: u in row `pendingRow` of `a`, q in e[0..pendingRow - 1]; -1 when none.
  let pendingRow = -1;
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    const ri = i * n;
    let h = 0;
    let reflect = false;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(a[ri + k]);
      if (scale === 0) {
        e[i] = a[ri + l];
      } else {
        // Scaling the row first keeps h = |u|^2 away from overflow and underflow.
        for (let k = 0; k <= l; k++) {
          const v = a[ri + k] / scale;
          a[ri + k] = v;
          h += v * v;
        }
        const f = a[ri + l];
        const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        a[ri + l] = f - g;
        reflect = true;
      }
    } else {
      e[i] = a[ri + l];
    }
    // Rows 0..l: apply the pending update of step i + 1 and, when reflecting, accumulate p = A u over
    // the updated lower triangle (each stored row used for both of its triangles).
    if (reflect) p.fill(0, 0, l + 1);
    const ru = pendingRow * n;
    if (sweep && (pendingRow >= 0 || reflect)) sweep(i, pendingRow, l, pendingRow < 0 ? 2 : reflect ? 0 : 1);
    for (let j = 0; j <= l && !sweep; j++) {
      const rj = j * n;
      if (pendingRow >= 0) {
        const fj = a[ru + j];
        const gj = e[j];
        if (reflect) {
          const uj = a[ri + j];
          let s = 0;
          for (let k = 0; k < j; k++) {
            const v = a[rj + k] - (fj * e[k] + gj * a[ru + k]);
            a[rj + k] = v;
            s += v * a[ri + k];
            p[k] += v * uj;
          }
          const v = a[rj + j] - (fj * gj + gj * fj);
          a[rj + j] = v;
          p[j] += s + v * uj;
        } else {
          for (let k = 0; k <= j; k++) a[rj + k] -= fj * e[k] + gj * a[ru + k];
        }
      } else if (reflect) {
        const uj = a[ri + j];
        let s = 0;
        for (let k = 0; k < j; k++) {
          const v = a[rj + k];
          s += v * a[ri + k];
          p[k] += v * uj;
        }
        p[j] += s + a[rj + j] * uj;
      }
    }
    pendingRow = -1;
    if (reflect) {
      let f = 0;
      for (let j = 0; j <= l; j++) {
        // The upper triangle is free: it keeps u / h for the back-accumulation.
        if (wantVectors) a[j * n + i] = a[ri + j] / h;
        const ej = p[j] / h;
        e[j] = ej;
        f += ej * a[ri + j];
      }
      const hh = f / (h + h);
      for (let j = 0; j <= l; j++) e[j] -= hh * a[ri + j];
      // Row l now, the rows above it in the next step's sweep.
      const rl = l * n;
      const fl = a[ri + l];
      const gl = e[l];
      for (let k = 0; k <= l; k++) a[rl + k] -= fl * e[k] + gl * a[ri + k];
      if (l > 0) pendingRow = i;
    }
    d[i] = h;
  }
  e[0] = 0;
  if (!wantVectors) {
    for (let i = 0; i < n; i++) d[i] = a[i * n + i];
    return;
  }
  d[0] = 0;
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    if (d[i] !== 0) {
      // Q_block -= (Q_block^T-weighted) rank-1 update, done as two sweeps over contiguous rows.
      g.fill(0, 0, i);
      for (let k = 0; k < i; k++) {
        const w = a[ri + k];
        if (w === 0) continue;
        const rk = k * n;
        for (let j = 0; j < i; j++) g[j] += w * a[rk + j];
      }
      for (let k = 0; k < i; k++) {
        const rk = k * n;
        const w = a[rk + i];
        if (w === 0) continue;
        for (let j = 0; j < i; j++) a[rk + j] -= g[j] * w;
      }
    }
    d[i] = a[ri + i];
    a[ri + i] = 1;
    for (let j = 0; j < i; j++) {
      a[j * n + i] = 0;
      a[ri + j] = 0;
    }
  }
}

/**
 * Implicit QL on the tridiagonal (d, e) from {@link tridiagonalize}; d receives the eigenvalues.
 * `rows`, when given, holds Q^T and its rows are rotated into the eigenvectors.
 */
function implicitQl(d: Float64Array, e: Float64Array, n: number, rows: Float64Array | null): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  // e[m] counts as zero when it is below rounding of its neighbours, eps (|d[m]| + |d[m+1]|), which
  // keeps small eigenvalues of graded matrices relatively accurate. That test can stall: when the sweeps
  // run through entries as large as |T|, they add errors of about eps |T| to every entry, and the entries
  // of a strongly graded T (the usual outcome for a rank-deficient covariance, with entries falling from
  // |T| to 1e-16 |T| towards the top left) never get below eps times themselves. After STALL_ITERATIONS
  // on one eigenvalue, entries below eps |T| count as zero too, for the rest of the matrix: the error
  // that the Householder reduction already made, so the eigenvalues keep their absolute accuracy.
  let floor = 0;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const ae = Math.abs(e[m]);
        if (ae <= floor || ae <= EPS * (Math.abs(d[m]) + Math.abs(d[m + 1]))) break;
      }
      if (m !== l && iter === STALL_ITERATIONS && floor === 0) {
        let norm = 0;
        for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]));
        floor = EPS * norm;
        continue;
      }
      if (m === l) break;
      if (iter++ === MAX_QL_ITERATIONS) {
        throw new Error(`symmetricEigen: QL iteration did not converge for eigenvalue ${l} of ${n}`);
      }
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let deflated = false;
      for (let i = m - 1; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // The rotation underflowed: the matrix split here, restart on the smaller problem.
          d[i + 1] -= p;
          e[m] = 0;
          deflated = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (rows) rotateRows(rows, n, i, s, c);
      }
      if (deflated) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    } while (m !== l);
  }
}

function rotateRows(z: Float64Array, n: number, i: number, s: number, c: number): void {
  const ri = i * n;
  const rj = ri + n;
  for (let k = 0; k < n; k++) {
    const zi = z[ri + k];
    const zj = z[rj + k];
    z[rj + k] = s * zi + c * zj;
    z[ri + k] = c * zi - s * zj;
  }
}

/** Transpose of a row-major n x n matrix, in 32 x 32 tiles. */
export function transpose(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  const B = 32;
  for (let i0 = 0; i0 < n; i0 += B) {
    const i1 = Math.min(i0 + B, n);
    for (let j0 = 0; j0 < n; j0 += B) {
      const j1 = Math.min(j0 + B, n);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) out[j * n + i] = a[i * n + j];
      }
    }
  }
  return out;
}
