import { describe, expect, it } from 'vitest';
import { symmetricEigen, symmetricEigenvalues } from '../src/index.js';
import { multiplyABt } from '../src/stats/gemm.js';
import { maxAbsDiff, naiveABt, randomMatrix, seeded } from './stats-random.js';

function randomSymmetric(n: number, seed: number): Float64Array {
  const a = randomMatrix(n, n, seed);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[j * n + i] = a[i * n + j];
  return a;
}

/** max |A V - V diag(values)| and max |V^T V - I|. */
function residuals(a: Float64Array, n: number, values: Float64Array, v: Float64Array): [number, number] {
  let av = 0;
  let orth = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      let s = 0;
      let t = 0;
      for (let j = 0; j < n; j++) {
        s += a[i * n + j] * v[j * n + k];
        t += v[j * n + i] * v[j * n + k];
      }
      av = Math.max(av, Math.abs(s - v[i * n + k] * values[k]));
      orth = Math.max(orth, Math.abs(t - (i === k ? 1 : 0)));
    }
  }
  return [av, orth];
}

/**
 * A symmetric tridiagonal [n, n] matrix graded over `decades` orders of magnitude: entries of size
 * 10^-decades at the top left rising to 1 at the bottom right, random signs on the off-diagonal. The
 * structure the Householder reduction gives the rank-deficient C C^T of 600+ offline-extractor features
 * of MNIST digits (diagonal 4e-16 ... 160), on which the neighbour-relative convergence test alone
 * stalled ('QL iteration did not converge for eigenvalue 0 of 600').
 */
function gradedTridiagonal(n: number, seed: number, decades: number): Float64Array {
  const { uniform } = seeded(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const s = 10 ** (decades * (i / (n - 1) - 1));
    a[i * n + i] = s * (0.5 + uniform());
    if (i > 0) {
      const v = s * (uniform() - 0.5);
      a[i * n + i - 1] = v;
      a[(i - 1) * n + i] = v;
    }
  }
  return a;
}

/** Eigenvalues below x of a symmetric tridiagonal matrix (Sturm count of T - x I = L D L^T). */
function sturmCount(a: Float64Array, n: number, x: number): number {
  let count = 0;
  let q = 1;
  for (let i = 0; i < n; i++) {
    const e = i > 0 ? a[i * n + i - 1] : 0;
    q = a[i * n + i] - x - (i > 0 ? (e * e) / q : 0);
    if (q === 0) q = -1e-300;
    if (q < 0) count++;
  }
  return count;
}

describe('symmetricEigen', () => {
  it('returns the sorted diagonal and unit vectors for a diagonal matrix', () => {
    const d = [3, -1, 7, 0.5];
    const a = new Float64Array(16);
    d.forEach((v, i) => {
      a[i * 4 + i] = v;
    });
    const { values, vectors } = symmetricEigen(a, 4);
    expect(Array.from(values)).toEqual([-1, 0.5, 3, 7]);
    // Column k is the unit vector of the k-th smallest entry (up to sign).
    const where = [1, 3, 0, 2];
    for (let k = 0; k < 4; k++) {
      for (let i = 0; i < 4; i++) expect(Math.abs(vectors[i * 4 + k])).toBe(i === where[k] ? 1 : 0);
    }
  });

  it('matches the closed form of a 2x2 matrix', () => {
    const [p, q, r] = [2, 0.75, -1.5];
    const { values, vectors } = symmetricEigen(new Float64Array([p, q, q, r]), 2);
    const mid = (p + r) / 2;
    const rad = Math.sqrt(((p - r) / 2) ** 2 + q * q);
    expect(values[0]).toBeCloseTo(mid - rad, 14);
    expect(values[1]).toBeCloseTo(mid + rad, 14);
    // Eigenvector of lambda: (q, lambda - p), normalised; compare up to sign.
    for (let k = 0; k < 2; k++) {
      const x = q;
      const y = values[k] - p;
      const norm = Math.hypot(x, y);
      const dot = (vectors[k] * x + vectors[2 + k] * y) / norm;
      expect(Math.abs(dot)).toBeCloseTo(1, 14);
    }
  });

  it.each([1, 3, 8, 37, 120])('satisfies A V = V L and V^T V = I for a random %i x %i matrix', (n) => {
    const a = randomSymmetric(n, 100 + n);
    const { values, vectors } = symmetricEigen(a, n);
    const [av, orth] = residuals(a, n, values, vectors);
    expect(av).toBeLessThan(1e-10);
    expect(orth).toBeLessThan(1e-10);
    for (let k = 1; k < n; k++) expect(values[k]).toBeGreaterThanOrEqual(values[k - 1]);
    // The trace is the sum of the eigenvalues.
    let tr = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      tr += a[i * n + i];
      sum += values[i];
    }
    expect(sum).toBeCloseTo(tr, 10);
  });

  it('handles repeated eigenvalues and a rank-deficient matrix', () => {
    // Q diag(2, 2, 0, 0, 5) Q^T with Q from the eigenvectors of a random matrix.
    const n = 5;
    const q = symmetricEigen(randomSymmetric(n, 7), n).vectors;
    const lam = [2, 2, 0, 0, 5];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        for (let k = 0; k < n; k++) a[i * n + j] += q[i * n + k] * lam[k] * q[j * n + k];
    const { values, vectors } = symmetricEigen(a, n);
    expect(maxAbsDiff(values, [0, 0, 2, 2, 5])).toBeLessThan(1e-13);
    const [av, orth] = residuals(a, n, values, vectors);
    expect(av).toBeLessThan(1e-12);
    expect(orth).toBeLessThan(1e-12);
  });

  it('converges on a strongly graded matrix, to eps |A| with the counts of a Sturm sequence', () => {
    // 200 x 200, entries from 1e-16 to 1: the sweeps add errors of eps |A| to the tiny entries, which
    // never drop below eps times themselves; the solver used to throw here (values and vectors alike).
    const n = 200;
    const a = gradedTridiagonal(n, 1, 16);
    const values = symmetricEigenvalues(a, n);
    const eig = symmetricEigen(a, n);
    expect(maxAbsDiff(values, eig.values)).toBeLessThan(1e-15);
    for (let k = 1; k < n; k++) expect(values[k]).toBeGreaterThanOrEqual(values[k - 1]);
    const norm = Math.max(Math.abs(values[0]), Math.abs(values[n - 1]));
    const [av, orth] = residuals(a, n, eig.values, eig.vectors);
    expect(av).toBeLessThan(1e-14 * norm);
    expect(orth).toBeLessThan(1e-13);
    let tr = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      tr += a[i * n + i];
      sum += values[i];
    }
    expect(Math.abs(sum - tr)).toBeLessThan(1e-14 * norm * n);
    // Every eigenvalue above the rounding of |A| in its place: the count below x matches the Sturm count.
    for (const x of [1e-13, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 1]) {
      let below = 0;
      for (const v of values) if (v < x) below++;
      expect(below).toBe(sturmCount(a, n, x));
    }
  });

  it('gives the same values without vectors, and accepts a Float32Array', () => {
    const n = 30;
    const a = randomSymmetric(n, 3);
    expect(maxAbsDiff(symmetricEigenvalues(a, n), symmetricEigen(a, n).values)).toBeLessThan(1e-12);
    const f = Float32Array.from(a);
    const v32 = symmetricEigenvalues(f, n);
    const v64 = symmetricEigenvalues(Float64Array.from(f), n);
    expect(maxAbsDiff(v32, v64)).toBe(0);
  });

  it('does not modify its input', () => {
    const a = randomSymmetric(6, 11);
    const copy = a.slice();
    symmetricEigen(a, 6);
    expect(a).toEqual(copy);
  });

  it('rejects bad input with errors naming the argument', () => {
    expect(() => symmetricEigen(new Float64Array(6), 3)).toThrow(/a must have 9 elements/);
    expect(() => symmetricEigen(new Float64Array(4), 0)).toThrow(/n must be a positive integer/);
    expect(() => symmetricEigen([1, 0, 0, 1] as unknown as Float64Array, 2)).toThrow(
      /a must be a Float32Array/,
    );
    expect(() => symmetricEigen(new Float64Array([1, 2, 0, 1]), 2)).toThrow(
      /a must be symmetric.*a\[1,0\] = 0/,
    );
    expect(() => symmetricEigen(new Float64Array([1, NaN, NaN, 1]), 2)).toThrow(/a\[1\] is NaN/);
  });
});

describe('multiplyABt (internal kernel)', () => {
  it.each([
    [1, 1, 1],
    [3, 5, 2],
    [70, 67, 300],
    [129, 65, 513],
  ])('matches the triple loop for [%i x k] [%i x k], k = %i', (m, p, k) => {
    const a = randomMatrix(m, k, 1);
    const b = randomMatrix(p, k, 2);
    const c = new Float64Array(m * p).fill(Number.NaN);
    multiplyABt(a, m, b, p, k, c);
    expect(maxAbsDiff(c, naiveABt(a, m, b, p, k))).toBeLessThan(1e-11);
    // accumulate adds; upper fills at least the upper triangle of a symmetric product.
    const acc = new Float64Array(m * p).fill(1);
    multiplyABt(a, m, b, p, k, acc, { accumulate: true });
    expect(
      maxAbsDiff(
        acc,
        naiveABt(a, m, b, p, k).map((v) => v + 1),
      ),
    ).toBeLessThan(1e-11);
    const sym = new Float64Array(m * m);
    multiplyABt(a, m, a, m, k, sym, { upper: true });
    const ref = naiveABt(a, m, a, m, k);
    for (let i = 0; i < m; i++)
      for (let j = i; j < m; j++) expect(Math.abs(sym[i * m + j] - ref[i * m + j])).toBeLessThan(1e-11);
  });
});
