/**
 * Fréchet distance between two Gaussians, the quantity behind FID, sFID and rFID.
 *
 * The references (pytorch-fid, the ADM evaluator) take scipy's sqrtm of the non-symmetric S1 S2.
 * Only its trace is needed, and S1 S2 is similar to the symmetric PSD matrix
 * M = L^1/2 V^T S2 V L^1/2 (S1 = V L V^T), so tr sqrt(S1 S2) = sum_k sqrt(eig_k(M)): two symmetric
 * eigenproblems in float64 and no complex arithmetic.
 */
import {
  assertFinite,
  assertFloatArray,
  describe,
  type FloatArray,
  isFloatArray,
  symmetricCopy,
} from './checks.js';
import { eigenSymmetricInPlace } from './eigen.js';
import { mirrorUpper, multiplyABt } from './gemm.js';

const EPS = 2.220446049250313e-16;

/** Options of {@link frechetDistance}. */
export interface FrechetOptions {
  /**
   * A covariance is rejected as not positive semi-definite when it has an eigenvalue below
   * -psdTolerance times its largest variance max_i S_ii (sigma1: read off its eigenvalues; sigma2:
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
 * Cost at n = 2048: one full eigendecomposition, two products of [n, n] matrices, one eigenvalue
 * problem and a Cholesky check, all O(n^3) in plain JavaScript (tens of seconds). Eigenvalues within
 * rounding of zero (below n eps |S|) count as zero, which makes singular covariances (fewer samples
 * than dimensions) accurate instead of carrying sqrt(eps)-sized noise.
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
  const fn = 'frechetDistance';
  if (!isFloatArray(mu1))
    throw new TypeError(`${fn}: mu1 must be a Float32Array or Float64Array, got ${describe(mu1)}`);
  const n = mu1.length;
  if (n === 0) throw new RangeError(`${fn}: mu1 must not be empty`);
  assertFloatArray(fn, 'mu2', mu2, n);
  assertFloatArray(fn, 'sigma1', sigma1, n * n);
  assertFloatArray(fn, 'sigma2', sigma2, n * n);
  const psdTol = opts.psdTolerance ?? 1e-5;
  const symTol = opts.symmetryTolerance ?? 1e-6;
  if (!(psdTol >= 0)) throw new RangeError(`${fn}: opts.psdTolerance must be >= 0, got ${psdTol}`);
  if (!(symTol >= 0)) throw new RangeError(`${fn}: opts.symmetryTolerance must be >= 0, got ${symTol}`);
  assertFinite(fn, 'mu1', mu1);
  assertFinite(fn, 'mu2', mu2);
  assertFinite(fn, 'sigma1', sigma1);
  assertFinite(fn, 'sigma2', sigma2);
  const s1 = symmetricCopy(fn, 'sigma1', sigma1, n, symTol);
  const s2 = symmetricCopy(fn, 'sigma2', sigma2, n, symTol);
  const maxVar1 = assertPsdScale(fn, 'sigma1', s1, n);
  assertPsd(fn, 'sigma2', s2, n, psdTol);

  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < n; i++) {
    const dm = mu1[i] - mu2[i];
    meanTerm += dm * dm;
    traces += s1[i * n + i] + s2[i * n + i];
  }
  if (maxVar1 === 0) return meanTerm + traces;
  // S1 = V L V^T; its eigenvalues give the PSD check of sigma1 for free.
  const { values, rows } = eigenSymmetricInPlace(s1, n, true);
  if (values[0] < -psdTol * maxVar1) {
    throw new RangeError(
      `${fn}: sigma1 is not positive semi-definite: its smallest eigenvalue ${values[0]} is below -${psdTol} x ` +
        `its largest variance ${maxVar1}. Pass a covariance (N - 1 denominator, float64 accumulation), or raise opts.psdTolerance.`,
    );
  }
  return meanTerm + traces - 2 * traceSqrtProduct(values, rows!, s2, n);
}

/**
 * tr sqrt(S1 S2) from S1 = V diag(values) V^T (eigenvectors as the rows of `rows`) and a symmetric
 * PSD S2, all float64 row-major. Internal.
 */
export function traceSqrtProduct(
  values: Float64Array,
  rows: Float64Array,
  s2: Float64Array,
  n: number,
): number {
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
  const mu = eigenSymmetricInPlace(m, r, false).values;
  const floor2 = r * EPS * Math.max(Math.abs(mu[0]), Math.abs(mu[r - 1]));
  let tr = 0;
  for (let k = 0; k < r; k++) if (mu[k] > floor2) tr += Math.sqrt(mu[k]);
  return tr;
}

/**
 * Largest diagonal entry of a symmetric matrix, after rejecting a matrix whose diagonal shows it is
 * not PSD: with no positive variance, only the zero matrix is PSD.
 */
function assertPsdScale(fn: string, name: string, s: Float64Array, n: number): number {
  let maxDiag = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, s[i * n + i]);
  if (maxDiag > 0) return maxDiag;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== 0) {
      throw new RangeError(
        `${fn}: ${name} is not positive semi-definite: its largest diagonal entry is ${maxDiag} but it is not all zeros`,
      );
    }
  }
  return 0;
}

/**
 * Rejects a symmetric matrix that is clearly not PSD: S + tol * max(diag) * I must have a Cholesky
 * factor. Works on a copy.
 */
function assertPsd(fn: string, name: string, s: Float64Array, n: number, tol: number): void {
  const maxDiag = assertPsdScale(fn, name, s, n);
  if (maxDiag === 0) return;
  const shift = tol * maxDiag;
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      // Two partial sums halve the add latency chain of this O(n^3 / 3) loop.
      let s0 = 0;
      let s1 = 0;
      let k = 0;
      for (; k + 1 < j; k += 2) {
        s0 += l[ri + k] * l[rj + k];
        s1 += l[ri + k + 1] * l[rj + k + 1];
      }
      if (k < j) s0 += l[ri + k] * l[rj + k];
      let sum = s[ri + j] - (s0 + s1);
      if (j < i) {
        l[ri + j] = sum / l[rj + j];
        continue;
      }
      sum += shift;
      if (!(sum > 0)) {
        throw new RangeError(
          `${fn}: ${name} is not positive semi-definite: it has an eigenvalue below -${tol} x its largest ` +
            `variance ${maxDiag} (Cholesky of ${name} + ${shift} I failed at row ${i}). Pass a covariance ` +
            '(N - 1 denominator, float64 accumulation), or raise opts.psdTolerance.',
        );
      }
      l[ri + i] = Math.sqrt(sum);
    }
  }
}
