import { describe, expect, it } from 'vitest';
import { type FrechetOptions, frechetDistance } from '../src/index.js';
import { pivotedCholeskyInPlace } from '../src/stats/pivoted-cholesky.js';
import {
  maxAbsDiff,
  naiveABt,
  randomCovariance,
  randomMatrix,
  randomOrthogonal,
  seeded,
} from './stats-random.js';

const f64 = (v: number[]) => Float64Array.from(v);

function diag(v: number[]): Float64Array {
  const n = v.length;
  const a = new Float64Array(n * n);
  v.forEach((x, i) => {
    a[i * n + i] = x;
  });
  return a;
}

function identity(n: number): Float64Array {
  return diag(new Array(n).fill(1));
}

/** Row-major product of square matrices. */
function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

/** Gauss-Jordan inverse with partial pivoting. */
function inverse(a: Float64Array, n: number): Float64Array {
  const m = a.slice();
  const inv = identity(n);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[piv * n + col])) piv = r;
    for (let j = 0; j < n; j++) {
      [m[col * n + j], m[piv * n + j]] = [m[piv * n + j], m[col * n + j]];
      [inv[col * n + j], inv[piv * n + j]] = [inv[piv * n + j], inv[col * n + j]];
    }
    const p = m[col * n + col];
    for (let j = 0; j < n; j++) {
      m[col * n + j] /= p;
      inv[col * n + j] /= p;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * n + col];
      for (let j = 0; j < n; j++) {
        m[r * n + j] -= f * m[col * n + j];
        inv[r * n + j] -= f * inv[col * n + j];
      }
    }
  }
  return inv;
}

/** Principal square root of a (non-symmetric) matrix by the Denman-Beavers iteration. */
function sqrtmDenmanBeavers(a: Float64Array, n: number): Float64Array {
  let y = a.slice();
  let z = identity(n);
  for (let it = 0; it < 60; it++) {
    const yi = inverse(y, n);
    const zi = inverse(z, n);
    y = y.map((v, i) => 0.5 * (v + zi[i]));
    z = z.map((v, i) => 0.5 * (v + yi[i]));
  }
  return y;
}

/**
 * The fixed 5 x 5 inputs of the reference values below (i, j from 1): B1 = sin(0.7 i + 1.3 j^2) (rank 2),
 * B2 = cos(0.4 i (j + 1) + 0.5), B3 = sin(0.9 i j + 0.2 i + j) (5 x 3); mu1 = 0.1 k, mu2 = sin k.
 */
function fixedCase(singular: boolean): [Float64Array, Float64Array, Float64Array, Float64Array] {
  const cols = singular ? 3 : 5;
  const b1 = new Float64Array(5 * cols);
  const b2 = new Float64Array(25);
  for (let i = 1; i <= 5; i++) {
    for (let j = 1; j <= cols; j++) {
      b1[(i - 1) * cols + j - 1] = singular
        ? Math.sin(0.9 * i * j + 0.2 * i + j)
        : Math.sin(0.7 * i + 1.3 * j * j);
    }
    for (let j = 1; j <= 5; j++) b2[(i - 1) * 5 + j - 1] = Math.cos(0.4 * i * (j + 1) + 0.5);
  }
  const s1 = naiveABt(b1, 5, b1, 5, cols);
  if (!singular) for (let i = 0; i < 5; i++) s1[i * 5 + i] += 0.5;
  const mu1 = Float64Array.from({ length: 5 }, (_, i) => 0.1 * i);
  const mu2 = Float64Array.from({ length: 5 }, (_, i) => Math.sin(i));
  return [mu1, s1, mu2, naiveABt(b2, 5, b2, 5, 5)];
}

/** Cyclic Jacobi eigendecomposition of a symmetric matrix: eigenvalues and eigenvectors (columns). */
function jacobiEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = a.slice();
  const v = identity(n);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-30 * (1 + maxAbsDiff(m, new Float64Array(n * n)) ** 2)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // Columns p, q of m, then its rows p, q, then the columns of v.
        const rotate = (x: Float64Array, i: number, j: number) => {
          const xi = x[i];
          const xj = x[j];
          x[i] = c * xi - s * xj;
          x[j] = s * xi + c * xj;
        };
        for (let k = 0; k < n; k++) rotate(m, k * n + p, k * n + q);
        for (let k = 0; k < n; k++) rotate(m, p * n + k, q * n + k);
        for (let k = 0; k < n; k++) rotate(v, k * n + p, k * n + q);
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]), vectors: v };
}

/**
 * The eigenvector route, as a reference: S1 = V L V^T, M = L^1/2 V^T S2 V L^1/2, tr sqrt(S1 S2) =
 * sum sqrt(eig(M)), eigenvalues within rounding of zero dropped.
 */
function referenceFrechet(
  mu1: Float64Array,
  s1: Float64Array,
  mu2: Float64Array,
  s2: Float64Array,
  n: number,
): number {
  const { values, vectors } = jacobiEigen(s1, n);
  const top = Math.max(...values.map(Math.abs));
  // W = V L^1/2 (columns), then M = W^T S2 W.
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++)
      w[i * n + k] = values[k] > n * 1e-15 * top ? vectors[i * n + k] * Math.sqrt(values[k]) : 0;
  const wt = Float64Array.from({ length: n * n }, (_, i) => w[(i % n) * n + Math.floor(i / n)]);
  const m = matmul(matmul(wt, s2, n), w, n);
  const mu = jacobiEigen(m, n).values;
  const topM = Math.max(...mu.map(Math.abs));
  let d = 0;
  for (let i = 0; i < n; i++) d += (mu1[i] - mu2[i]) ** 2 + s1[i * n + i] + s2[i * n + i];
  for (const x of mu) if (x > n * 1e-15 * topM) d -= 2 * Math.sqrt(x);
  return d;
}

/**
 * B B^T / (k - 1) for B [n, k] with the rows in `zero` set to 0 and column j scaled by 10^(-3 j / k):
 * a rank-deficient covariance with zero columns and non-zero eigenvalues spread over about 1e-6..1.
 */
function covarianceWithZeros(n: number, k: number, zero: number[], seed: number): Float64Array {
  const b = randomMatrix(n, k, seed);
  for (let i = 0; i < n * k; i++) b[i] *= 10 ** ((-3 * (i % k)) / k);
  for (const i of zero) b.fill(0, i * k, i * k + k);
  return naiveABt(b, n, b, n, k).map((v) => v / (k - 1));
}

describe('pivotedCholeskyInPlace', () => {
  it('finds the rank of a singular matrix with zero columns over several blocks and reproduces it', () => {
    const n = 150;
    const zero = [0, 7, 64, 65, 149];
    const a = covarianceWithZeros(n, 101, zero, 3); // rank 101 of 150
    const { rank, lt, pivots, status, remainderBound } = pivotedCholeskyInPlace(
      a.slice(),
      n,
      n * 2.2e-16 * Math.max(...Array.from({ length: n }, (_, i) => a[i * n + i])),
      1e-5,
      true,
    );
    expect(rank).toBe(101);
    expect(status).toBe('stopped');
    expect(remainderBound).toBeGreaterThan(-1e-10);
    expect(new Set(pivots).size).toBe(rank);
    for (const i of zero) expect(Array.from(pivots)).not.toContain(i);
    // L L^T = A, and row k of L^T vanishes on the earlier pivots.
    const ltt = new Float64Array(n * rank);
    for (let k = 0; k < rank; k++) for (let i = 0; i < n; i++) ltt[i * rank + k] = lt![k * n + i];
    expect(maxAbsDiff(naiveABt(ltt, n, ltt, n, rank), a)).toBeLessThan(1e-12);
    for (let k = 0; k < rank; k++) for (let j = 0; j < k; j++) expect(lt![k * n + pivots[j]]).toBe(0);
  });

  it('reports a clearly negative Schur complement and factors a definite matrix completely', () => {
    const bad = f64([1, 2, 2, 1]);
    expect(pivotedCholeskyInPlace(bad, 2, 1e-15, 1e-5, false).status).toBe('negative');
    const s = randomCovariance(70, 90, 4);
    const { rank, status, remainderBound, lt } = pivotedCholeskyInPlace(s.slice(), 70, 1e-14, 1e-5, false);
    expect([rank, status, remainderBound, lt]).toEqual([70, 'complete', 0, null]);
  });
});

describe('frechetDistance', () => {
  it('gives 2048 for means 0 vs 1 with identity covariances in 2048-d', () => {
    const n = 2048;
    const d = frechetDistance(new Float64Array(n), identity(n), new Float64Array(n).fill(1), identity(n));
    expect(d).toBeCloseTo(2048, 8);
  });

  it('matches the closed forms of the spec', () => {
    // Commuting diagonal covariances: |mu diff|^2 + sum (sqrt a - sqrt b)^2 = 9 + 1 + 1 + 1.
    expect(frechetDistance(f64([0, 0, 0]), diag([1, 4, 9]), f64([1, 2, 2]), diag([4, 1, 16]))).toBeCloseTo(
      12,
      12,
    );
    // S vs 4 S: tr S + 4 tr S - 2 * 2 tr S = tr S = 4.
    const s = f64([2, 1, 1, 2]);
    expect(
      frechetDistance(
        f64([0, 0]),
        s,
        f64([0, 0]),
        s.map((v) => 4 * v),
      ),
    ).toBeCloseTo(4, 12);
    // A zero covariance against the identity.
    expect(
      frechetDistance(new Float64Array(3), new Float64Array(9), new Float64Array(3), identity(3)),
    ).toBeCloseTo(3, 14);
    expect(
      frechetDistance(new Float64Array(3), identity(3), new Float64Array(3), new Float64Array(9)),
    ).toBeCloseTo(3, 14);
  });

  it('matches scipy.linalg.sqrtm (the references) and 40-digit mpmath on fixed inputs', () => {
    // S1 = B1 B1^T + 0.5 I: scipy 1.17 gives 8.729660162341862, mpmath (40 digits, via the symmetric
    // form) 8.7296601623418558612.
    expect(frechetDistance(...fixedCase(false))).toBeCloseTo(8.729660162341856, 11);
    // S1 = B3 B3^T has rank 3. The exact value, mpmath tr sqrt(B3^T S2 B3), is 8.7735184319489801982;
    // scipy's sqrtm of the singular product gives 8.773518393428182, 4e-8 off.
    expect(frechetDistance(...fixedCase(true))).toBeCloseTo(8.77351843194898, 10);
  });

  it('matches a Denman-Beavers square root of S1 S2 for a random 5 x 5 pair', () => {
    const n = 5;
    const s1 = randomCovariance(n, 8, 21);
    const s2 = randomCovariance(n, 9, 22);
    const { normal } = seeded(5);
    const mu1 = Float64Array.from({ length: n }, normal);
    const mu2 = Float64Array.from({ length: n }, normal);
    const root = sqrtmDenmanBeavers(matmul(s1, s2, n), n);
    // The iteration really converged to a square root.
    expect(maxAbsDiff(matmul(root, root, n), matmul(s1, s2, n))).toBeLessThan(1e-10);
    let expected = 0;
    for (let i = 0; i < n; i++)
      expected += (mu1[i] - mu2[i]) ** 2 + s1[i * n + i] + s2[i * n + i] - 2 * root[i * n + i];
    expect(frechetDistance(mu1, s1, mu2, s2)).toBeCloseTo(expected, 10);
  });

  it('matches the closed form of commuting singular covariances with zero columns', () => {
    // S1 = Q diag(d1) Q^T and S2 = Q diag(d2) Q^T on the non-zero coordinates (Q random orthogonal),
    // zero rows and columns elsewhere: tr sqrt(S1 S2) = sum sqrt(d1 d2), so the distance is
    // |mu1 - mu2|^2 + sum (sqrt d1 - sqrt d2)^2. d1 and d2 have zeros of their own, in different places.
    const n = 90;
    const zero = [0, 3, 4, 40, 63, 64, 65, 89];
    const live = Array.from({ length: n }, (_, i) => i).filter((i) => !zero.includes(i));
    const m = live.length;
    const q = randomOrthogonal(m, 11);
    const { uniform, normal } = seeded(12);
    // Non-zero eigenvalues spread log-uniformly over [1e-6, 10]: a factorisation that stopped early
    // would lose the small ones.
    const d1 = Float64Array.from({ length: m }, (_, k) => (k % 3 === 0 ? 0 : 10 ** (1 - 7 * uniform())));
    const d2 = Float64Array.from({ length: m }, (_, k) => (k % 5 === 1 ? 0 : 10 ** (1 - 7 * uniform())));
    const embed = (dd: Float64Array): Float64Array => {
      const s = new Float64Array(n * n);
      live.forEach((gi, i) => {
        live.forEach((gj, j) => {
          let v = 0;
          for (let k = 0; k < m; k++) v += q[k * m + i] * dd[k] * q[k * m + j];
          s[gi * n + gj] = v;
        });
      });
      return s;
    };
    const s1 = embed(d1);
    const s2 = embed(d2);
    const mu1 = Float64Array.from({ length: n }, normal);
    const mu2 = Float64Array.from({ length: n }, normal);
    let expected = 0;
    for (let i = 0; i < n; i++) expected += (mu1[i] - mu2[i]) ** 2;
    for (let k = 0; k < m; k++) expected += (Math.sqrt(d1[k]) - Math.sqrt(d2[k])) ** 2;
    // Within 5e-9 of about 240 (2e-11 relative): over 12 seeds of this construction the error reaches
    // 1e-9, from the rounding of the near-singular Schur complements, whichever order sums them.
    expect(frechetDistance(mu1, s1, mu2, s2)).toBeCloseTo(expected, 8);
    expect(frechetDistance(mu2, s2, mu1, s1)).toBeCloseTo(expected, 8);
  });

  it('matches the eigenvector route on a random rank-deficient pair with zero columns', () => {
    const n = 48;
    const s1 = covarianceWithZeros(n, 21, [1, 2, 30, 47], 31); // rank 21 of 48
    const s2 = covarianceWithZeros(n, 30, [2, 5], 32); // rank 30, different zero columns
    const { normal } = seeded(33);
    const mu1 = Float64Array.from({ length: n }, normal);
    const mu2 = Float64Array.from({ length: n }, normal);
    const want = referenceFrechet(mu1, s1, mu2, s2, n);
    expect(Math.abs(frechetDistance(mu1, s1, mu2, s2) - want)).toBeLessThan(1e-10 * want);
    expect(Math.abs(frechetDistance(mu2, s2, mu1, s1) - want)).toBeLessThan(1e-10 * want);
  });

  it('is symmetric in its two Gaussians, zero for identical ones, and accepts float32 input', () => {
    const n = 12;
    const s1 = randomCovariance(n, 4, 1); // rank 4: singular S1
    const s2 = randomCovariance(n, 30, 2);
    const mu = new Float64Array(n).fill(0.5);
    const d12 = frechetDistance(mu, s1, new Float64Array(n), s2);
    const d21 = frechetDistance(new Float64Array(n), s2, mu, s1);
    expect(d12).toBeCloseTo(d21, 10);
    expect(Math.abs(frechetDistance(mu, s2, mu, s2))).toBeLessThan(1e-10);
    const f = Float32Array.from(s2);
    expect(frechetDistance(Float32Array.from(mu), f, mu, Float64Array.from(f))).toBeCloseTo(0, 9);
  });

  it('accepts a covariance whose factorisation meets a small negative pivot, dropping the negative part', () => {
    // Eigenvalues 1 + b and 1 - b = -0.75e-5 (within the default 1e-5 tolerance), but the Schur complement
    // 1 - b^2 = -1.5e-5 is below it: the eigenvector route decides and keeps the positive part (1 + b) v v^T.
    const b = Math.sqrt(1 + 1.5e-5);
    const s1 = f64([1, b, b, 1]);
    expect(frechetDistance(new Float64Array(2), s1, new Float64Array(2), identity(2))).toBeCloseTo(
      4 - 2 * Math.sqrt(1 + b),
      12,
    );
  });

  it('accepts a covariance that is PSD up to rounding', () => {
    // Rank-1 covariance with its zero eigenvalues pushed to about -1e-12 by float32 storage.
    const v = Float64Array.from({ length: 6 }, (_, i) => Math.sin(i + 0.3));
    const s = Float32Array.from(naiveABt(v, 6, v, 6, 1));
    expect(Number.isFinite(frechetDistance(new Float64Array(6), s, new Float64Array(6), s))).toBe(true);
  });

  it('rejects bad input with errors naming the argument', () => {
    const i2 = identity(2);
    const z2 = new Float64Array(2);
    // Eigenvalues 2 and -1e-7 (relative -5e-8): fine by default, rejected with a tighter tolerance.
    const nearly = f64([1 - 0.5e-7, 1 + 0.5e-7, 1 + 0.5e-7, 1 - 0.5e-7]);
    const eig = /sigma1 is not positive semi-definite: its smallest eigenvalue -(1|0\.99+\d*) is below/;
    // [mu1, sigma1, mu2, sigma2, error, opts].
    const cases: [Float64Array, Float64Array, Float64Array, Float64Array, RegExp, FrechetOptions?][] = [
      [z2, i2, new Float64Array(3), i2, /mu2 must have 2 elements/],
      [z2, new Float64Array(3), z2, i2, /sigma1 must have 4 elements/],
      [z2, i2, z2, new Float64Array(9), /sigma2 must have 4 elements/],
      [new Float64Array(0), i2, z2, i2, /mu1 must not be empty/],
      [z2, f64([1, 0.5, 0, 1]), z2, i2, /sigma1 must be symmetric/],
      [z2, i2, z2, f64([1, 2, 2, 1]), /sigma2 is not positive semi-definite/],
      [z2, f64([-1, 0, 0, -1]), z2, i2, /sigma1 is not positive semi-definite/],
      [z2, f64([0, 1, 1, 0]), z2, i2, /sigma1 is not positive semi-definite/],
      [z2, f64([1, 2, 2, 1]), z2, i2, eig],
      [z2, nearly, z2, i2, /sigma1 is not positive/, { psdTolerance: 1e-9 }],
      [z2, i2, z2, nearly, /sigma2 is not positive/, { psdTolerance: 1e-9 }],
      // A zero diagonal block that is indefinite: the factorisation stops at rank 1 and its remainder
      // [[0, 1], [1, 0]] sends the check to the eigenvalues.
      [new Float64Array(3), f64([1, 0, 0, 0, 0, 1, 0, 1, 0]), new Float64Array(3), identity(3), eig],
      [f64([0, NaN]), i2, z2, i2, /mu1\[1\] is NaN/],
      [z2, i2, z2, f64([1, 0, 0, Infinity]), /sigma2\[3\] is Infinity/],
    ];
    for (const [m1, s1, m2, s2, error, opts] of cases)
      expect(() => frechetDistance(m1, s1, m2, s2, opts)).toThrow(error);
    expect(frechetDistance(z2, nearly, z2, nearly)).toBeCloseTo(0, 6);
  });
});
