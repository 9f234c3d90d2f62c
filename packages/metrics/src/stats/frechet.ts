/**
 * Fréchet distance between two Gaussians, the quantity behind FID, sFID and rFID.
 *
 * The references (pytorch-fid, the ADM evaluator) take scipy's sqrtm of the non-symmetric S1 S2.
 * Only its trace is needed, and for any factor S1 = L L^T the non-zero eigenvalues of S1 S2 are those
 * of the symmetric PSD matrix M = L^T S2 L, so tr sqrt(S1 S2) = sum_k sqrt(eig_k(M)). L comes from a
 * Cholesky factorisation (no eigenvectors; pivoted, rank-revealing, when sigma1 is singular or nearly
 * so), and M needs its eigenvalues only: float64 and no complex arithmetic.
 */
import { atDoor } from '@ldmae/core';
import { assertFinite, assertFloatArray, type FloatArray, symmetricCopy } from './checks.js';
import { eigenSymmetricInPlace } from './eigen.js';

import {
  mirrorUpper,
  multiplyABt,
  pack4,
  type Strided,
  subtractGramUpper,
  subtractGramUpperInArena,
} from './gemm.js';

import { type PivotedCholesky, pivotedCholeskyInPlace } from './pivoted-cholesky.js';

import {
  type Arena,
  arena,
  Batch,
  hold,
  queueTiles,
  releaseArena,
  type setStatsThreads,
  unhold,
} from './wasm.js';

const EPS = 2.220446049250313e-16;

/** Options of {@link frechetDistance}. */
export interface FrechetOptions {
  /**
   * A covariance is rejected as not positive semi-definite when it has an eigenvalue below
   * -psdTolerance times its largest variance max_i S_ii (sigma1: read off its eigenvalues whenever its
   * pivoted Cholesky factorisation meets a Schur complement that may be that negative; sigma2:
   * S2 + psdTolerance max_i S_ii I has no Cholesky factor, the same test up to rounding).
   * Default 1e-5: far above float64 (or float32 storage) rounding, far below any real defect.
   */
  psdTolerance?: number;
  /** Largest accepted |S[i,j] - S[j,i]| relative to the largest |S[i,j]|. Default 1e-6. */
  symmetryTolerance?: number;
}

/**
 * Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
 * |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2), computed in float64.
 *
 * This is the number FID reports (FID = this value, not its square root). It is not clamped, so two
 * identical inputs may give a rounding-level value such as -1e-12, as the references do.
 *
 * Cost at n = 2048: a Cholesky factorisation of sigma1 (again with pivoting when a pivot falls to
 * rounding of zero), two triangular-by-full products, the eigenvalues (no vectors) of one [r, r] matrix
 * (r the rank of sigma1) and a Cholesky check of sigma2, all O(n^3). The products and the eigenvalue reduction (to a band, then tridiagonal) run on
 * WebAssembly SIMD kernels, on worker threads as well in Node (see {@link setStatsThreads}): a few
 * seconds on one core, where plain JavaScript took tens. The result does not depend on the number of
 * threads. Variances and eigenvalues within rounding of zero (below n eps |S|) count as zero, which
 * makes singular covariances (fewer samples than dimensions, zero feature columns) accurate instead of
 * carrying sqrt(eps)-sized noise; r < n makes them cheaper too. Memory: about seven [n, n] float64
 * matrices at the peak (about 230 MiB at n = 2048).
 *
 * @param mu1 - mean [n].
 * @param sigma1 - covariance [n, n], row-major, symmetric positive semi-definite.
 * @param mu2 - mean [n].
 * @param sigma2 - covariance [n, n], row-major, symmetric positive semi-definite.
 * @throws TypeError / RangeError naming the argument when a size is wrong, a value is not finite, a
 *   covariance is not symmetric or clearly not positive semi-definite.
 */
export function frechetDistance(
  mu1: FloatArray,
  sigma1: FloatArray,
  mu2: FloatArray,
  sigma2: FloatArray,
  opts: FrechetOptions = {},
): number {
  // One WebAssembly arena (and one set of worker threads) for all the products and the eigenvalues.
  hold();
  try {
    return frechet(mu1, sigma1, mu2, sigma2, opts);
  } finally {
    unhold();
  }
}

function frechet(
  mu1: FloatArray,
  sigma1: FloatArray,
  mu2: FloatArray,
  sigma2: FloatArray,
  opts: FrechetOptions,
): number {
  const { n, psdTol, symTol, s1, s2 } = atDoor('frechetDistance', () => {
    assertFloatArray('mu1', mu1);
    const n = mu1.length;
    if (n === 0) throw new RangeError('mu1 must not be empty');
    assertFloatArray('mu2', mu2, n);
    assertFloatArray('sigma1', sigma1, n * n);
    assertFloatArray('sigma2', sigma2, n * n);
    const psdTol = opts.psdTolerance ?? 1e-5;
    const symTol = opts.symmetryTolerance ?? 1e-6;
    if (!(psdTol >= 0)) throw new RangeError(`opts.psdTolerance must be >= 0, got ${psdTol}`);
    if (!(symTol >= 0)) throw new RangeError(`opts.symmetryTolerance must be >= 0, got ${symTol}`);
    assertFinite('mu1', mu1);
    assertFinite('mu2', mu2);
    const s1 = symmetricCopy('sigma1', sigma1, n, symTol);
    const s2 = symmetricCopy('sigma2', sigma2, n, symTol);
    return { n, psdTol, symTol, s1, s2 };
  });
  const maxVar1 = assertPsdScale('sigma1', s1, n);
  assertPsd('sigma2', s2, n, psdTol);

  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < n; i++) {
    const dm = mu1[i] - mu2[i];
    meanTerm += dm * dm;
    traces += s1[i * n + i] + s2[i * n + i];
  }
  if (maxVar1 === 0) return meanTerm + traces;
  // S1 = L L^T. First without pivoting, which keeps the natural order (no permutation of S2 later) and
  // is accepted when every pivot stays above rounding of zero (n eps max_i S_ii, LAPACK's default).
  const floor = n * EPS * maxVar1;
  // With the arena grown for the products first, U can stay in it for them (fresh 32 MiB arrays cost
  // their page faults).
  const bytes = productBytes(n, n);
  arena(bytes);
  const { row: failed, u } = choleskyUpper(s1, n, 0, floor, bytes);
  if (failed < 0) return meanTerm + traces - 2 * traceSqrtTriangular(u, n, s2, n);
  // Else its first `failed` rows stand, and the Schur complement of the rest is factored with pivoting,
  // L [n, r] with r the numerical rank: pivots stop once every remaining variance is within that rounding,
  // which drops the null space of a singular S1 instead of carrying sqrt(eps)-sized noise into the trace.
  const limit = psdTol * maxVar1;
  const chol = continuePivoted(s1, u!, n, failed, floor, limit);
  if (chol.status === 'negative' || chol.remainderBound < -limit) {
    // The factorisation cannot vouch for S1 (it may have a clearly negative eigenvalue): decide by the
    // eigenvalues, and if S1 passes after all, take the eigenvector route, which drops the negative part.
    const { values, rows } = eigenSymmetricInPlace(symmetricCopy('sigma1', sigma1, n, symTol), n, true);
    if (values[0] < -limit) {
      throw new RangeError(
        `frechetDistance: sigma1 is not positive semi-definite: its smallest eigenvalue ${values[0]} is below -${psdTol} x ` +
          `its largest variance ${maxVar1}. Pass a covariance (N - 1 denominator, float64 accumulation), or raise opts.psdTolerance.`,
      );
    }
    return meanTerm + traces - 2 * traceSqrtProduct(values, rows!, s2, n);
  }
  return meanTerm + traces - 2 * traceSqrtPivoted(chol.lt!, chol.pivots, chol.rank, s2, n);
}

/**
 * S1 = L L^T from the rows before i of an unpivoted factor (u: S1 = U^T U on them) and a pivoted factorisation
 * of the Schur complement C = S1[i:, i:] - U[0:i, i:]^T U[0:i, i:] (upper triangle formed on the tile):
 * the result of {@link pivotedCholeskyInPlace} with the first i pivots taken in order.
 */
function continuePivoted(
  s1: Float64Array,
  u: Float64Array,
  n: number,
  i: number,
  floor: number,
  limit: number,
): PivotedCholesky {
  const m = n - i;
  const c = new Float64Array(m * m);
  for (let r = 0; r < m; r++) c.set(s1.subarray((i + r) * n + i + r, (i + r) * n + n), r * m + r);
  // G = U[0:i, i:]^T ([m, i]).
  if (i > 0) subtractGramUpper({ src: u, off: i, si: 1, st: n }, m, m, i, c, m);
  const rest = pivotedCholeskyInPlace(c, m, floor, limit, true);
  const rank = i + rest.rank;
  const lt = new Float64Array(rank * n);
  for (let q = 0; q < i; q++) lt.set(u.subarray(q * n + q, q * n + n), q * n + q);
  const lr = rest.lt!;
  for (let k = 0; k < rest.rank; k++) lt.set(lr.subarray(k * m, k * m + m), (i + k) * n + i);
  const pivots = new Int32Array(rank);
  for (let q = 0; q < i; q++) pivots[q] = q;
  for (let k = 0; k < rest.rank; k++) pivots[i + k] = i + rest.pivots[k];
  return { ...rest, rank, lt, pivots };
}

/** Arena bytes of {@link arenaProducts}: U, S2 packed (then M), T, and the packed chunks. */
function productBytes(r: number, n: number): number {
  return (r * n + Math.max((n - (n % 4)) * n, r * r) + r * n + r * KC + TB * KC) * 8;
}

/** Rows (and columns) per block of the triangular products in {@link traceSqrtTriangular}. */
const TB = 256;
/** Inner dimension per chunk of those products, so that the packed operands stay in cache. */
const KC = 256;

/**
 * tr sqrt(S1 S2) from a pivoted Cholesky factor S1 = L L^T (L^T given as the row-major [r, n] `lt` in
 * the original coordinates, `pivots` its pivot order) and a symmetric PSD S2: in pivot order (the pivots
 * first, then the other indices) L^T is upper trapezoidal, U = L^T P, and S1 S2 has the eigenvalues of
 * U U^T P^T S2 P, so {@link traceSqrtTriangular} of U and P^T S2 P.
 */
function traceSqrtPivoted(
  lt: Float64Array,
  pivots: Int32Array,
  r: number,
  s2: Float64Array,
  n: number,
): number {
  if (r === 0) return 0;
  // perm: pivots first, then the indices never pivoted on.
  const perm = new Int32Array(n);
  const seen = new Uint8Array(n);
  for (let k = 0; k < r; k++) {
    perm[k] = pivots[k];
    seen[pivots[k]] = 1;
  }
  for (let i = 0, c = r; i < n; i++) if (seen[i] === 0) perm[c++] = i;
  const u = new Float64Array(r * n);
  for (let k = 0; k < r; k++) {
    const src = k * n;
    for (let c = k; c < n; c++) u[src + c] = lt[src + perm[c]];
  }
  const s2p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    const dst = i * n;
    for (let c = 0; c < n; c++) s2p[dst + c] = s2[src + perm[c]];
  }
  return traceSqrtTriangular(u, r, s2p, n);
}

/**
 * tr sqrt(S1 S2) for S1 = U^T U with U the row-major [r, n] upper trapezoidal (U[k, c] = 0 for c < k;
 * null: already at the start of the arena, which is held and large enough for the products) and
 * S2 symmetric PSD: the sum of the square roots of the eigenvalues of M = U S2 U^T, which are the
 * non-zero eigenvalues of S1 S2. T = U S2 and M = T U^T are formed block by block over the non-zero part
 * of U only: about n^3 / 2 + n^3 / 6 multiply-adds at r = n instead of 3 n^3 / 2.
 */
function traceSqrtTriangular(u: Float64Array | null, r: number, s2p: Float64Array, n: number): number {
  const m = new Float64Array(r * r);
  if (!arenaProducts(u, r, s2p, n, m)) plainProducts(u!, r, s2p, n, m);
  mirrorUpper(m, r);
  return sumSqrtEigenvalues(m, r);
}

/** {@link traceSqrtTriangular}'s products in plain arrays, through {@link multiplyABt}. */
function plainProducts(u: Float64Array, r: number, s2p: Float64Array, n: number, m: Float64Array): void {
  // T[k0:k1, :] = U[k0:k1, k0:] S2p[k0:, :] (S2p symmetric: its rows restricted to columns k0.. serve),
  // both operands read in place through their row stride.
  const t = new Float64Array(r * n);
  for (let k0 = 0; k0 < r; k0 += TB) {
    const k1 = Math.min(k0 + TB, r);
    multiplyABt(u.subarray(k0 * n + k0), k1 - k0, s2p.subarray(k0), n, n - k0, t.subarray(k0 * n), {
      lda: n,
      ldb: n,
    });
  }
  // M[0:l1, l0:l1] = T[0:l1, l0:] U[l0:l1, l0:]^T: the upper triangle of M = T U^T, block column by column.
  for (let l0 = 0; l0 < r; l0 += TB) {
    const l1 = Math.min(l0 + TB, r);
    multiplyABt(t.subarray(l0), l1, u.subarray(l0 * n + l0), l1 - l0, n - l0, m.subarray(l0), {
      lda: n,
      ldb: n,
      ldc: r,
    });
  }
}

/**
 * The same products with U, S2p, T and M in the WebAssembly arena: S2p's rows are packed once (S2p is
 * symmetric, so its rows serve as the columns of T); per block of TB rows of T and chunk of KC of the
 * inner dimension, U's rows are packed; per block of TB columns of M, the chunks of T's and U's rows are
 * packed and M's upper triangle is updated in place. The last rows and columns (mod 4) in plain loops.
 * Each entry sums its chunks in a fixed order, whichever thread runs them.
 *
 * @returns false (nothing done) when the arena is not available.
 */
function arenaProducts(
  u: Float64Array | null,
  r: number,
  s2p: Float64Array,
  n: number,
  m: Float64Array,
): boolean {
  const r4 = r - (r % 4);
  const n4 = n - (n % 4);
  // S2p packed, then M in its place once T is formed.
  const oS = r * n;
  const oM = oS;
  const oT = oS + Math.max(n4 * n, r * r);
  const oA = oT + r * n;
  const ar = arena(productBytes(r, n));
  if (ar === null) return false;
  try {
    const h = new Float64Array(ar.memory.buffer);
    const batch = new Batch(ar);
    if (u) h.set(u.subarray(0, r * n), 0);
    // S2p's rows packed once, chunk by chunk of KC columns: chunk c0 at oS + c0 n4, [panel][t][4].
    for (let c0 = 0; c0 < n; c0 += KC) pack4(s2p, n, n4, c0, Math.min(KC, n - c0), h, oS + c0 * n4);
    h.fill(0, oT, oT + r * n);
    // T[k0:k1, :] = sum over c >= k0 of U[k0:k1, c] S2p[c, :].
    for (let k0 = 0; k0 < r; k0 += TB) {
      const k1 = Math.min(k0 + TB, r);
      const rows4 = Math.min(k1, r4) - k0;
      for (let c0 = k0; c0 < n && rows4 > 0; c0 += KC) {
        const kc = Math.min(KC, n - c0);
        pack4(h.subarray(k0 * n), n, rows4, c0, kc, h, oA);
        const o = {
          pa: oA * 8,
          pb: (oS + c0 * n4) * 8,
          bPanel: kc * 32,
          bStep: 32,
          pc: (oT + k0 * n) * 8,
          cRow: n * 8,
          cPanel: 32,
        };
        queueTiles(batch, o, rows4, n4, kc);
        batch.run(rows4 * n4 * kc);
      }
      for (let k = k0; k < k1; k++) {
        for (let j = k < k0 + rows4 ? n4 : 0; j < n; j++) {
          let acc = 0;
          for (let c = k; c < n; c++) acc += h[k * n + c] * s2p[c * n + j];
          h[oT + k * n + j] = acc;
        }
      }
    }
    // M[0:l1, l0:l1] = sum over c >= l0 of T[0:l1, c] U[l0:l1, c]: the upper triangle of M = T U^T.
    h.fill(0, oM, oM + r * r);
    for (let l0 = 0; l0 < r; l0 += TB) {
      const l1 = Math.min(l0 + TB, r);
      const rows4 = Math.min(l1, r4);
      const cols4 = Math.min(l1, r4) - l0;
      for (let c0 = l0; c0 < n && cols4 > 0; c0 += KC) {
        const kc = Math.min(KC, n - c0);
        pack4(h.subarray(oT), n, rows4, c0, kc, h, oA);
        pack4(h.subarray(l0 * n), n, cols4, c0, kc, h, oA + r * KC);
        const o = {
          pa: oA * 8,
          pb: (oA + r * KC) * 8,
          bPanel: kc * 32,
          bStep: 32,
          pc: (oM + l0) * 8,
          cRow: r * 8,
          cPanel: 32,
        };
        queueTiles(batch, o, rows4, cols4, kc, true, l0);
        batch.run((rows4 * cols4 * kc) / 2);
      }
      for (let i = 0; i < l1; i++) {
        for (let j = Math.max(i, i < rows4 ? l0 + cols4 : l0); j < l1; j++) {
          let acc = 0;
          for (let c = j; c < n; c++) acc += h[oT + i * n + c] * h[j * n + c];
          h[oM + i * r + j] = acc;
        }
      }
    }
    m.set(h.subarray(oM, oM + r * r));
    return true;
  } finally {
    releaseArena();
  }
}

/** sum_k sqrt(mu_k) over the eigenvalues of the symmetric PSD [r, r] `m` (overwritten) above rounding. */
export function sumSqrtEigenvalues(m: Float64Array, r: number): number {
  const mu = eigenSymmetricInPlace(m, r, false).values;
  const floor = r * EPS * Math.max(Math.abs(mu[0]), Math.abs(mu[r - 1]));
  let tr = 0;
  for (let k = 0; k < r; k++) if (mu[k] > floor) tr += Math.sqrt(mu[k]);
  return tr;
}

/**
 * tr sqrt(S1 S2) from S1 = V diag(values) V^T (eigenvectors as the rows of `rows`) and a symmetric
 * PSD S2, all float64 row-major: the route for a sigma1 whose factorisation met a negative pivot within
 * the PSD tolerance (eigenvalues at or below rounding, negative ones included, are dropped).
 */
function traceSqrtProduct(values: Float64Array, rows: Float64Array, s2: Float64Array, n: number): number {
  // Eigenvalues within rounding of zero are zero: keeping their noise would add about
  // sqrt(eps) * |S| per direction to the trace, far above the rounding of everything else.
  const floor1 = n * EPS * Math.max(Math.abs(values[0]), Math.abs(values[n - 1]));
  let r = 0;
  for (let k = 0; k < n; k++) if (values[k] > floor1) r++;
  if (r === 0) return 0;
  // W^T = L^1/2 V^T restricted to the range of S1.
  const wt = new Float64Array(r * n);
  let row = 0;
  for (let k = 0; k < n; k++) {
    if (!(values[k] > floor1)) continue;
    const scale = Math.sqrt(values[k]);
    const src = rows.subarray(k * n, k * n + n);
    const dst = wt.subarray(row * n, row * n + n);
    for (let j = 0; j < n; j++) dst[j] = scale * src[j];
    row++;
  }
  // T = W^T S2 (S2 symmetric, so its rows are its columns), then M = T W.
  const t = new Float64Array(r * n);
  multiplyABt(wt, r, s2, n, n, t);
  const m = new Float64Array(r * r);
  multiplyABt(t, r, wt, r, n, m, { upper: true });
  mirrorUpper(m, r);
  return sumSqrtEigenvalues(m, r);
}

/**
 * Largest diagonal entry of a symmetric matrix, after rejecting a matrix whose diagonal shows it is
 * not PSD: with no positive variance, only the zero matrix is PSD.
 */
function assertPsdScale(name: string, s: Float64Array, n: number): number {
  let maxDiag = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, s[i * n + i]);
  if (maxDiag > 0) return maxDiag;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== 0) {
      throw new RangeError(
        `frechetDistance: ${name} is not positive semi-definite: its largest diagonal entry is ${maxDiag} but it is not all zeros`,
      );
    }
  }
  return 0;
}

/** Rows per block of {@link choleskyUpper}, and per sub-block in the arena. */
const CB = 64;
const SB = 8;

/**
 * Rejects a symmetric matrix that is clearly not PSD: S + tol * max(diag) * I must have a Cholesky
 * factor.
 */
function assertPsd(name: string, s: Float64Array, n: number, tol: number): void {
  const maxDiag = assertPsdScale(name, s, n);
  if (maxDiag === 0) return;
  const shift = tol * maxDiag;
  const { row } = choleskyUpper(s, n, shift, 0);
  if (row >= 0) {
    throw new RangeError(
      `frechetDistance: ${name} is not positive semi-definite: it has an eigenvalue below -${tol} x its largest ` +
        `variance ${maxDiag} (Cholesky of ${name} + ${shift} I failed at row ${row}). Pass a covariance ` +
        '(N - 1 denominator, float64 accumulation), or raise opts.psdTolerance.',
    );
  }
}

/**
 * Cholesky factorisation S + shift I = U^T U (U upper triangular) of the symmetric `s` (not modified),
 * on a copy, blocked: the rows of a block are factored here row by row, and the rest of the matrix
 * receives the block's update U12^T U12. The copy lives in the WebAssembly arena when there is one, so
 * that update runs on the product tile in place ({@link subtractGramUpperInArena}); else in plain arrays.
 *
 * @param floor - a pivot (squared) at or below it fails the factorisation.
 * @param keep - when given, U is wanted: it stays at the start of the arena (u null) when the arena holds
 *   at least `keep` bytes, else it is returned (row-major [n, n], zero below the diagonal).
 * @returns the row whose pivot failed (-1: none) and, when U is wanted, U or (on failure) its rows before
 *   that row, which are final.
 */
function choleskyUpper(
  s: Float64Array,
  n: number,
  shift: number,
  floor: number,
  keep?: number,
): { row: number; u: Float64Array | null } {
  const ar = arena((n * n + 2 * n * CB) * 8);
  const h = ar ? new Float64Array(ar.memory.buffer) : null;
  const w = h ? h.subarray(0, n * n) : new Float64Array(n * n);
  w.set(s.subarray(0, n * n));
  const update = h ? arenaUpdate(ar!, h, n) : plainUpdate(w, n);
  // In the arena the rows of a block are factored in sub-blocks of SB, each passing its update on to the
  // block's later rows through the tile, which leaves less of the row by row work to JavaScript.
  const sb = h ? SB : CB;
  try {
    for (let k0 = 0; k0 < n; k0 += CB) {
      const k1 = Math.min(k0 + CB, n);
      for (let s0 = k0; s0 < k1; s0 += sb) {
        const s1 = Math.min(s0 + sb, k1);
        // Rows s0..s1 of U (upper triangle of w): row i minus the rows of the sub-block above it, scaled.
        for (let i = s0; i < s1; i++) {
          const ri = i * n;
          for (let q = s0; q < i; q++) {
            const rq = q * n;
            const f = w[rq + i];
            if (f === 0) continue;
            for (let j = i; j < n; j++) w[ri + j] -= f * w[rq + j];
          }
          const d = w[ri + i] + shift;
          if (!(d > floor)) return { row: i, u: keep === undefined ? null : h ? copyRows(w, n, i) : w };
          const piv = Math.sqrt(d);
          const inv = 1 / piv;
          w[ri + i] = piv;
          for (let j = i + 1; j < n; j++) w[ri + j] *= inv;
        }
        if (s1 < k1) update(s0, s1, k1);
      }
      if (k1 < n) update(k0, k1, n);
    }
    if (keep === undefined) return { row: -1, u: null };
    // Below the diagonal w still holds S: clear it, so that w is U.
    for (let i = 1; i < n; i++) w.fill(0, i * n, i * n + i);
    if (!h) return { row: -1, u: w };
    return h.length * 8 >= keep ? { row: -1, u: null } : { row: -1, u: copyRows(w, n, n) };
  } finally {
    if (h) releaseArena();
  }
}

/** The upper triangles of rows 0..rows of w, in a new [n, n] array. */
function copyRows(w: Float64Array, n: number, rows: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < rows; i++) out.set(w.subarray(i * n + i, i * n + n), i * n + i);
  return out;
}

/**
 * w[k1:rowEnd, k1:] -= U12^T U12 (upper triangle) with U12 = rows k0..k1, columns k1.. of the row-major
 * [n, n] w.
 */
type RowsUpdate = (k0: number, k1: number, rowEnd: number) => void;

/** U12^T as the Gram factor of {@link RowsUpdate}: G[j, t] = w[(k0 + t) n + k1 + j]. */
const u12 = (w: Float64Array, n: number, k0: number, k1: number): Strided => ({
  src: w,
  off: k0 * n + k1,
  si: 1,
  st: n,
});

/** {@link RowsUpdate} in plain arrays, through {@link subtractGramUpper}. */
function plainUpdate(w: Float64Array, n: number): RowsUpdate {
  return (k0, k1, rowEnd) =>
    subtractGramUpper(u12(w, n, k0, k1), rowEnd - k1, n - k1, k1 - k0, w.subarray(k1 * n + k1), n);
}

/**
 * {@link RowsUpdate} with w at the start of the arena, on the tile in place; U12 is packed after w
 * rather than read in place (rows n apart fall into the same cache sets).
 */
function arenaUpdate(ar: Arena, h: Float64Array, n: number): RowsUpdate {
  const batch = new Batch(ar);
  return (k0, k1, rowEnd) =>
    subtractGramUpperInArena(
      batch,
      h,
      u12(h, n, k0, k1),
      rowEnd - k1,
      n - k1,
      k1 - k0,
      k1 * n + k1,
      n,
      n * n,
    );
}
