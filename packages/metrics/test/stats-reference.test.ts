/**
 * The WebAssembly routes of the statistics against the plain-JavaScript implementation they replaced
 * (frozen in tools/bench/reference/): the matrix product and the precision / recall decisions bit for
 * bit, the Fréchet distance and the eigenvalues to float64 rounding, on random, ill-conditioned and
 * rank-deficient inputs, with one thread and with worker threads.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { frechetDistance as refFrechet } from '../../../tools/bench/reference/frechet.js';
import { multiplyABt as refMultiply } from '../../../tools/bench/reference/gemm.js';
import {
  precisionRecall as refPrecisionRecall,
  manifoldRadii as refRadii,
} from '../../../tools/bench/reference/precision-recall.js';
import { frechetDistance, manifoldRadii, precisionRecall, symmetricEigenvalues } from '../src/index.js';
import { setTwoStageMinOrder } from '../src/stats/eigen.js';
import { multiplyABt } from '../src/stats/gemm.js';
import {
  DEFAULT_PARALLEL_MIN_WORK,
  statsThreads as getThreads,
  setParallelMinWork,
  setStatsThreads as setThreads,
  setWasmEnabled,
  wasmAvailable,
} from '../src/stats/wasm.js';
import { naiveABt, randomMatrix, randomOrthogonal, seeded } from './stats-random.js';

const defaultThreads = getThreads();
afterAll(() => {
  setThreads(defaultThreads);
  setWasmEnabled(true);
});

/** Runs f with the kernels on (threads 1, and 2 sharing every batch) and off, returning the three results. */
function everyRoute<T>(f: () => T): { one: T; two: T; js: T } {
  setWasmEnabled(true);
  setThreads(1);
  const one = f();
  setThreads(2);
  setParallelMinWork(0);
  let two: T;
  try {
    two = f();
  } finally {
    setParallelMinWork(DEFAULT_PARALLEL_MIN_WORK);
  }
  setWasmEnabled(false);
  const js = f();
  setWasmEnabled(true);
  setThreads(defaultThreads);
  return { one, two, js };
}

/** S = Q diag(values) Q^T for a random orthogonal Q (QR of a normal matrix by Gram-Schmidt, twice). */
function withSpectrum(values: number[], seed: number): { s: Float64Array; q: Float64Array } {
  const n = values.length;
  const q = randomOrthogonal(n, seed);
  // Rows of q are orthonormal: S = Q^T diag Q.
  const scaled = new Float64Array(n * n);
  for (let k = 0; k < n; k++) for (let t = 0; t < n; t++) scaled[t * n + k] = q[k * n + t] * values[k];
  const qt = new Float64Array(n * n);
  for (let k = 0; k < n; k++) for (let t = 0; t < n; t++) qt[t * n + k] = q[k * n + t];
  const s = naiveABt(scaled, n, qt, n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (s[i * n + j] + s[j * n + i]);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return { s, q };
}

/** Covariance (N - 1) of `rows` samples of a [dim] Gaussian with a random mixing, rank min(rows - 1, dim). */
function sampleCovariance(rows: number, dim: number, seed: number, scale = 1): Float64Array {
  const x = randomMatrix(rows, dim, seed);
  const mean = new Float64Array(dim);
  for (let i = 0; i < rows; i++) for (let t = 0; t < dim; t++) mean[t] += x[i * dim + t] / rows;
  const xt = new Float64Array(dim * rows);
  for (let i = 0; i < rows; i++) {
    for (let t = 0; t < dim; t++) xt[t * rows + i] = (x[i * dim + t] - mean[t]) * scale * (1 + (t % 5));
  }
  return naiveABt(xt, dim, xt, dim, rows).map((v) => v / (rows - 1));
}

describe('multiplyABt (WebAssembly tile)', () => {
  it('is available here', () => {
    expect(wasmAvailable()).toBe(true);
  });

  it.each([
    [4, 4, 2048],
    [37, 41, 300],
    [130, 130, 513],
    [133, 67, 700],
    [8, 300, 777],
    [100, 100, 1],
  ])('gives the bits of the JavaScript loop at %i x %i x %i, every mode', (m, p, k) => {
    for (const mode of [{}, { accumulate: true }, { upper: true }, { accumulate: true, upper: true }]) {
      const q = mode.upper ? m : p;
      const a = randomMatrix(m, k, m + p);
      const b = mode.upper ? a : randomMatrix(q, k, k);
      const c0 = randomMatrix(m, q, 3);
      const { one, two } = everyRoute(() => {
        const c = c0.slice();
        multiplyABt(a, m, b, q, k, c, mode);
        return c;
      });
      const want = c0.slice();
      refMultiply(a, m, b, q, k, want, mode);
      for (const got of [one, two]) {
        for (let i = 0; i < m; i++) {
          for (let j = mode.upper ? i : 0; j < q; j++) expect(got[i * q + j]).toBe(want[i * q + j]);
        }
      }
    }
  });

  it('reads strided operands and writes a strided result', () => {
    const [m, p, k, lda, ldb, ldc] = [70, 45, 90, 101, 97, 60];
    const a = randomMatrix(m, lda, 1);
    const b = randomMatrix(p, ldb, 2);
    const c = new Float64Array(m * ldc).fill(7);
    multiplyABt(a, m, b, p, k, c, { lda, ldb, ldc });
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < ldc; j++) {
        if (j >= p) {
          expect(c[i * ldc + j]).toBe(7);
          continue;
        }
        let want = 0;
        for (let k0 = 0; k0 < k; k0 += 256) {
          let s = 0;
          for (let t = k0; t < Math.min(k0 + 256, k); t++) s += a[i * lda + t] * b[j * ldb + t];
          want += s;
        }
        expect(c[i * ldc + j]).toBe(want);
      }
    }
  });
});

describe('symmetricEigenvalues (WebAssembly sweep)', () => {
  it('matches the JavaScript reduction to rounding, the same with 1 or 2 threads', () => {
    const n = 300;
    const { s } = withSpectrum(
      Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 10 ** (-12 * (i / n)))),
      5,
    );
    const { one, two, js } = everyRoute(() => symmetricEigenvalues(s, n));
    expect(Array.from(two)).toEqual(Array.from(one));
    for (let i = 0; i < n; i++) expect(Math.abs(one[i] - js[i])).toBeLessThan(1e-14);
  });
});

describe('symmetricEigenvalues, two-stage route (band, then tridiagonal)', () => {
  it.each([
    [301, 'random'],
    [256, 'graded 1 .. 1e-12 with zeros'],
    [203, 'clustered'],
  ])('n = %i, %s: the JavaScript reduction to rounding, the same with 1 or 2 threads', (n, kind) => {
    const values = Array.from({ length: n }, (_, i) =>
      kind === 'random'
        ? Math.sin(i * 1.7) * 3
        : kind === 'clustered'
          ? 1 + (i % 3) * 1e-9
          : i % 4 === 0
            ? 0
            : 10 ** (-12 * (i / n)),
    );
    const { s } = withSpectrum(values, n);
    setTwoStageMinOrder(64);
    try {
      const { one, two, js } = everyRoute(() => symmetricEigenvalues(s, n));
      expect(Array.from(two)).toEqual(Array.from(one));
      const sorted = [...values].sort((a, b) => a - b);
      const scale = Math.max(...values.map(Math.abs));
      for (let i = 0; i < n; i++) {
        expect(Math.abs(one[i] - js[i])).toBeLessThan(1e-13 * scale);
        expect(Math.abs(one[i] - sorted[i])).toBeLessThan(1e-12 * scale);
      }
    } finally {
      setTwoStageMinOrder(1536);
    }
  });
});

describe('frechetDistance against the previous implementation', () => {
  const mu = (n: number, seed: number) => randomMatrix(1, n, seed).map((v) => v * 0.1);
  const cases: [string, () => [Float64Array, Float64Array, number]][] = [
    ['random full rank, 300-d', () => [sampleCovariance(900, 300, 1), sampleCovariance(700, 300, 2), 300]],
    [
      'random full rank, 301-d (two blocks, 1 left over)',
      () => [sampleCovariance(900, 301, 15), sampleCovariance(700, 301, 16), 301],
    ],
    [
      'n < d: 40 and 90 samples in 260-d',
      () => [sampleCovariance(40, 260, 3), sampleCovariance(90, 260, 4), 260],
    ],
    [
      'ill-conditioned: eigenvalues 1 .. 1e-13 and 1e3 .. 1e-9',
      () => {
        const n = 200;
        const a = withSpectrum(
          Array.from({ length: n }, (_, i) => 10 ** (-13 * (i / (n - 1)))),
          6,
        ).s;
        const b = withSpectrum(
          Array.from({ length: n }, (_, i) => 10 ** (3 - 12 * (i / (n - 1)))),
          7,
        ).s;
        return [a, b, n];
      },
    ],
    [
      'rank 70 of 150, zero columns',
      () => {
        const n = 150;
        const a = sampleCovariance(71, n, 8);
        for (let i = 0; i < n; i += 7) for (let j = 0; j < n; j++) a[i * n + j] = a[j * n + i] = 0;
        return [a, sampleCovariance(500, n, 9, 1e3), n];
      },
    ],
  ];
  it.each(cases)('%s: equal to 1e-10 relative, identical across threads', (_, make) => {
    const [s1, s2, n] = make();
    const m1 = mu(n, 1);
    const m2 = mu(n, 2);
    const want = refFrechet(m1, s1, m2, s2);
    const { one, two, js } = everyRoute(() => frechetDistance(m1, s1, m2, s2));
    expect(two).toBe(one);
    for (const got of [one, js]) expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-10 * Math.abs(want));
  });

  it("decides sigma2's Cholesky check alike on every route, the failing row included (203-d)", () => {
    const n = 203;
    const s1 = sampleCovariance(400, n, 12);
    const z = new Float64Array(n);
    const spectrum = (low: number) =>
      Array.from({ length: n }, (_, i) => (i === 150 ? low : i < 60 ? 0 : 1 + i / n));
    const outcome = (s2: Float64Array) => () => {
      try {
        return frechetDistance(z, s1, z, s2);
      } catch (e) {
        return (e as Error).message;
      }
    };
    // One eigenvalue at -1e-3 of the largest: rejected, by the same row of the factorisation everywhere.
    const bad = everyRoute(outcome(withSpectrum(spectrum(-2e-3), 13).s));
    expect(bad.one).toMatch(/sigma2 is not positive semi-definite: .*failed at row \d+/);
    expect(bad.two).toBe(bad.one);
    expect(bad.js).toBe(bad.one);
    // Singular, or negative within the tolerance (-1e-7 of the largest): accepted, with equal values.
    for (const low of [0, -2e-7]) {
      const ok = everyRoute(outcome(withSpectrum(spectrum(low), 14).s));
      expect(typeof ok.one).toBe('number');
      expect(ok.two).toBe(ok.one);
      expect(Math.abs((ok.js as number) - (ok.one as number))).toBeLessThan(
        1e-10 * Math.abs(ok.one as number),
      );
    }
  });

  it('meets the closed form for commuting covariances: tr sqrt(S1 S2) = sum sqrt(a_k b_k)', () => {
    const n = 180;
    const a = Array.from({ length: n }, (_, i) => (i < 20 ? 0 : 10 ** ((-6 * ((i * 7) % n)) / n)));
    const b = Array.from({ length: n }, (_, i) => 2 + Math.sin(i));
    const s1 = withSpectrum(a, 11).s;
    const s2 = withSpectrum(b, 11).s; // the same eigenvectors
    let want = 0;
    for (let k = 0; k < n; k++) want += a[k] + b[k] - 2 * Math.sqrt(a[k] * b[k]);
    const z = new Float64Array(n);
    const got = frechetDistance(z, s1, z, s2);
    expect(Math.abs(got - want)).toBeLessThan(1e-10 * (want + 1));
  });

  it('meets the closed form for diagonal covariances at 2048-d', () => {
    const n = 2048;
    const { uniform } = seeded(3);
    const d1 = Float64Array.from({ length: n }, () => uniform() * 4);
    const d2 = Float64Array.from({ length: n }, () => uniform());
    const s1 = new Float64Array(n * n);
    const s2 = new Float64Array(n * n);
    let want = 0;
    for (let i = 0; i < n; i++) {
      s1[i * n + i] = d1[i];
      s2[i * n + i] = d2[i];
      want += d1[i] + d2[i] - 2 * Math.sqrt(d1[i] * d2[i]);
    }
    const z = new Float64Array(n);
    expect(Math.abs(frechetDistance(z, s1, z, s2) - want)).toBeLessThan(1e-10 * want);
  });
});

describe('precisionRecall / manifoldRadii against the previous implementation', () => {
  /** Clustered points on a coarse grid with exact duplicates (ties), as float32 or float64. */
  function cloud(
    n: number,
    dim: number,
    seed: number,
    centre: number,
    f32: boolean,
  ): Float32Array | Float64Array {
    const { normal, uniform } = seeded(seed);
    const x = f32 ? new Float32Array(n * dim) : new Float64Array(n * dim);
    for (let i = 0; i < n; i++) {
      if (i > 0 && uniform() < 0.1) {
        x.copyWithin(i * dim, (i - 1) * dim, i * dim);
        continue;
      }
      for (let t = 0; t < dim; t++) x[i * dim + t] = Math.round((centre + normal()) * 8) / 8 + 3;
    }
    return x;
  }

  it.each([
    [1, 60, 50, 3, false],
    [3, 200, 170, 3, true],
    [300, 150, 160, 5, false],
    [700, 120, 90, 3, true],
    [16, 1100, 1050, 3, true],
  ])('dim %i, %i real, %i fake, k %i (float32 %s): the same radii and P / R', (dim, nr, nf, k, f32) => {
    const real = cloud(nr, dim, dim + 1, 0, f32);
    const fake = cloud(nf, dim, dim + 2, 0.4, f32);
    const want = refPrecisionRecall(real, fake, dim, { k });
    const wantRadii = refRadii(real, dim, { k });
    const { one, two, js } = everyRoute(() => ({
      pr: precisionRecall(real, fake, dim, { k }),
      radii: manifoldRadii(real, dim, { k }),
    }));
    for (const got of [one, two, js]) {
      expect(got.pr).toEqual(want);
      expect(Array.from(got.radii)).toEqual(Array.from(wantRadii));
    }
    expect(want.precision).toBeGreaterThan(0);
    expect(want.precision).toBeLessThan(1);
  });
  it.each([
    ['a large common offset with fine float64 detail', 1e4, 1e-3],
    ['tiny values', 0, 1e-30],
    ['huge values', 0, 1e12],
  ])('%s: the same radii and P / R', (_, offset, scale) => {
    const dim = 40;
    const { normal } = seeded(99);
    const make = (n: number, shift: number) =>
      Float64Array.from(
        { length: n * dim },
        (_, i) => offset + scale * (normal() + (i % dim < 5 ? shift : 0)),
      );
    const real = make(150, 0);
    const fake = make(140, 0.5);
    // Near-ties: copies of real points nudged by one unit in the last place of one coordinate.
    for (let i = 0; i < 20; i++) {
      fake.set(real.subarray(i * dim, (i + 1) * dim), i * dim);
      fake[i * dim + (i % dim)] *= 1 + 2 ** -52;
    }
    const want = refPrecisionRecall(real, fake, dim);
    const wantRadii = refRadii(fake, dim);
    const { one, two } = everyRoute(() => ({
      pr: precisionRecall(real, fake, dim),
      radii: manifoldRadii(fake, dim),
    }));
    for (const got of [one, two]) {
      expect(got.pr).toEqual(want);
      expect(Array.from(got.radii)).toEqual(Array.from(wantRadii));
    }
  });
});
