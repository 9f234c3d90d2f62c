import { describe, expect, it } from 'vitest';
import { FeatureStats, featureStats } from '../src/index.js';
import { maxAbsDiff, seeded } from './stats-random.js';

/** Reference: mean, then covariance of the centred data, both in float64 (numpy.cov semantics). */
function twoPass(x: ArrayLike<number>, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let p = 0; p < dim; p++) mean[p] += x[r * dim + p];
  for (let p = 0; p < dim; p++) mean[p] /= n;
  const cov = new Float64Array(dim * dim);
  for (let r = 0; r < n; r++)
    for (let p = 0; p < dim; p++)
      for (let q = 0; q < dim; q++)
        cov[p * dim + q] += (x[r * dim + p] - mean[p]) * (x[r * dim + q] - mean[q]);
  return { mean, cov: cov.map((v) => v / (n - 1)) };
}

/** Correlated test features: a random linear mix of normals plus an offset per feature. */
function features(n: number, dim: number, seed: number, offset = 0, noise = 1): Float64Array {
  const { normal } = seeded(seed);
  const mix = Float64Array.from({ length: dim * dim }, normal);
  const out = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    const z = Array.from({ length: dim }, normal);
    for (let p = 0; p < dim; p++) {
      let v = offset + p;
      for (let q = 0; q < dim; q++) v += noise * mix[p * dim + q] * z[q];
      out[r * dim + p] = v;
    }
  }
  return out;
}

function relErr(got: Float64Array, want: Float64Array): number {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  return maxAbsDiff(got, want) / scale;
}

describe('featureStats', () => {
  it('matches a two-pass float64 computation, whatever the batch sizes', () => {
    const [n, dim] = [300, 9];
    const x = features(n, dim, 1);
    const ref = twoPass(x, n, dim);
    const s = featureStats(dim);
    // Batches of 1, 2, 130 (over one internal chunk) and the rest, as Float64Array views.
    for (const [a, b] of [
      [0, 1],
      [1, 3],
      [3, 133],
      [133, 300],
    ]) {
      s.add(x.subarray(a * dim, b * dim));
    }
    expect(s.count).toBe(n);
    expect(relErr(s.mean(), ref.mean)).toBeLessThan(1e-13);
    expect(relErr(s.covariance(), ref.cov)).toBeLessThan(1e-12);
    const cov = s.covariance();
    for (let p = 0; p < dim; p++)
      for (let q = 0; q < dim; q++) expect(cov[p * dim + q]).toBe(cov[q * dim + p]);
  });

  it('accumulates float32 batches in float64 and takes an explicit row count', () => {
    const [n, dim] = [50, 4];
    const x = Float32Array.from(features(n, dim, 2));
    const ref = twoPass(x, n, dim);
    const s = featureStats(dim).add(x, n);
    expect(relErr(s.covariance(), ref.cov)).toBeLessThan(1e-13);
  });

  it('gives the one-pass result when two halves are merged', () => {
    const [n, dim] = [401, 7];
    const x = features(n, dim, 3);
    const whole = featureStats(dim).add(x);
    const left = featureStats(dim).add(x.subarray(0, 150 * dim));
    // Each half has its own shift (its first batch mean); the merge reconciles them.
    const right = featureStats(dim).add(x.subarray(150 * dim));
    const merged = featureStats(dim).merge(left).merge(right);
    expect(merged.count).toBe(n);
    expect(relErr(merged.mean(), whole.mean())).toBeLessThan(1e-13);
    expect(relErr(merged.covariance(), whole.covariance())).toBeLessThan(1e-12);
    // Adding after a merge continues from the merged state.
    const more = features(40, dim, 4);
    merged.add(more);
    const all = new Float64Array((n + 40) * dim);
    all.set(x);
    all.set(more, n * dim);
    expect(relErr(merged.covariance(), twoPass(all, n + 40, dim).cov)).toBeLessThan(1e-12);
  });

  it('merges with itself as a doubled sample set', () => {
    const x = features(20, 3, 5);
    const s = featureStats(3).add(x);
    const cov = s.covariance();
    s.merge(s);
    expect(s.count).toBe(40);
    // Duplicating every sample keeps the mean and scales the N - 1 covariance by 2 (n - 1) / (2 n - 1).
    expect(
      relErr(
        s.covariance(),
        cov.map((v) => (v * 2 * 19) / 39),
      ),
    ).toBeLessThan(1e-13);
  });

  it('keeps its accuracy with a 1e6 offset and unit-scale noise', () => {
    const [n, dim] = [500, 5];
    const x = features(n, dim, 6, 1e6, 0.01);
    const ref = twoPass(x, n, dim);
    const s = featureStats(dim);
    for (let r = 0; r < n; r += 100) s.add(x.subarray(r * dim, (r + 100) * dim));
    expect(relErr(s.covariance(), ref.cov)).toBeLessThan(1e-8);
    expect(maxAbsDiff(s.mean(), ref.mean)).toBeLessThan(1e-9);
    // The naive sum(x x^T) / N - mu mu^T loses about 12 of 16 digits here: the test can tell.
    const naive = new Float64Array(dim * dim);
    for (let r = 0; r < n; r++)
      for (let p = 0; p < dim; p++)
        for (let q = 0; q < dim; q++) naive[p * dim + q] += x[r * dim + p] * x[r * dim + q];
    const mean = ref.mean;
    const naiveCov = naive.map((v, i) => (v - n * mean[Math.floor(i / dim)] * mean[i % dim]) / (n - 1));
    expect(relErr(naiveCov, ref.cov)).toBeGreaterThan(1e-6);
  });

  it('round-trips through JSON exactly', () => {
    const s = featureStats(6).add(features(33, 6, 7));
    const back = FeatureStats.fromJSON(JSON.parse(JSON.stringify(s)));
    expect(back.count).toBe(33);
    expect(back.mean()).toEqual(s.mean());
    expect(back.covariance()).toEqual(s.covariance());
    // Restored accumulators keep accumulating identically.
    const more = features(10, 6, 8);
    expect(back.add(more).covariance()).toEqual(s.add(more).covariance());
  });

  it('rejects bad input with errors naming the argument', () => {
    expect(() => featureStats(0)).toThrow(/dim must be a positive integer/);
    const s = featureStats(3);
    expect(() => s.mean()).toThrow(/no samples/);
    expect(() => s.add(new Float64Array(7))).toThrow(/batch must hold n x dim/);
    expect(() => s.add(new Float64Array(6), 3)).toThrow(/batch must hold n x dim = 3 x 3/);
    expect(() => s.add([1, 2, 3] as unknown as Float64Array)).toThrow(/batch must be a Float32Array/);
    expect(() => s.add(Float64Array.from([1, 2, NaN]))).toThrow(/batch\[2\] is NaN/);
    expect(s.count).toBe(0);
    s.add(new Float64Array(3));
    expect(() => s.covariance()).toThrow(/at least 2 samples, got 1/);
    expect(() => s.merge(featureStats(4))).toThrow(/other.dim is 4, expected 3/);
    const json = s.toJSON();
    expect(() => FeatureStats.fromJSON({ ...json, sumOuter: [1, 2] })).toThrow(
      /json.sumOuter must be an array of 6/,
    );
    expect(() => FeatureStats.fromJSON({ ...json, format: 'x' } as never)).toThrow(
      /output of FeatureStats.toJSON/,
    );
  });
});
