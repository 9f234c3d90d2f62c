import { serializeNpz, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  computeReference,
  type FeatureExtractor,
  featureStats,
  fidExtractorName,
  frechetBetween,
  frechetDistance,
  frechetDistanceFromSamples,
  referenceFromNpz,
  referenceToNpz,
  symmetricEigen,
  toPixelLevels,
} from '../src/index.js';
import { seeded } from './stats-random.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** n x d samples: a random linear mix of normals plus a shift, so covariances are full and unequal. */
function samples(n: number, d: number, seed: number, shift = 0): Float64Array {
  const { normal } = seeded(seed);
  const mix = Float64Array.from({ length: d * d }, () => normal() / Math.sqrt(d));
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = Float64Array.from({ length: d }, normal);
    for (let j = 0; j < d; j++) {
      let s = shift * (j + 1);
      for (let k = 0; k < d; k++) s += mix[j * d + k] * z[k] * (1 + k);
      out[i * d + j] = s;
    }
  }
  return out;
}

/** A random orthogonal d x d matrix (the eigenvectors of a random symmetric one). */
function orthogonal(d: number, seed: number): Float64Array {
  const { normal } = seeded(seed);
  const a = Float64Array.from({ length: d * d }, normal);
  const s = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s[i * d + j] = a[i * d + j] + a[j * d + i];
  return symmetricEigen(s, d).vectors;
}

function rotate(x: Float64Array, q: Float64Array, d: number): Float64Array {
  const n = x.length / d;
  const out = new Float64Array(x.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += x[i * d + k] * q[k * d + j];
      out[i * d + j] = s;
    }
  return out;
}

function fid(x: Float64Array, y: Float64Array, d: number): number {
  const a = featureStats(d).add(x);
  const b = featureStats(d).add(y);
  return frechetDistance(a.mean(), a.covariance(), b.mean(), b.covariance());
}

describe('Fréchet distance properties', () => {
  it('is invariant to one orthogonal rotation of both feature sets, and symmetric (5 random trials)', () => {
    for (let t = 0; t < 5; t++) {
      const d = 6 + t;
      const x = samples(40 + t, d, 10 + t);
      const y = samples(30 + 2 * t, d, 20 + t, 0.3);
      const q = orthogonal(d, 30 + t);
      const base = fid(x, y, d);
      expect(base).toBeGreaterThan(0.1);
      expect(fid(rotate(x, q, d), rotate(y, q, d), d)).toBeCloseTo(base, 9);
      // Swapping the sets swaps which covariance is factored: over 100 such trials the two orders differ
      // by 4e-14 relative at the median and 6e-12 at most (the same with the pivoted-only factorisation).
      expect(fid(y, x, d)).toBeCloseTo(base, 9);
      expect(frechetDistanceFromSamples(rotate(x, q, d), rotate(y, q, d), d)).toBeCloseTo(base, 9);
    }
  });

  it('from the samples equals the covariance route, also with fewer samples than dimensions', () => {
    for (const [n1, n2, d] of [
      [30, 25, 5],
      [4, 7, 12],
      [9, 3, 20],
    ]) {
      const x = samples(n1, d, n1);
      const y = samples(n2, d, n2 + 100, 0.5);
      expect(frechetDistanceFromSamples(x, y, d)).toBeCloseTo(fid(x, y, d), 8);
      expect(frechetDistanceFromSamples(Float32Array.from(y), x, d)).toBeCloseTo(
        fid(Float64Array.from(Float32Array.from(y)), x, d),
        8,
      );
    }
    expect(frechetDistanceFromSamples(samples(5, 3, 1), samples(5, 3, 1), 3)).toBeCloseTo(0, 10);
    expect(() => frechetDistanceFromSamples(new Float64Array(3), new Float64Array(6), 3)).toThrow(/n >= 2/);
    expect(() =>
      frechetDistanceFromSamples(Float64Array.of(1, Number.NaN, 0, 0), new Float64Array(4), 2),
    ).toThrow(/finite/);
  });
});

/** An extractor that looks features up by image index (pixel 0 of each image holds the index). */
function tableExtractor(
  rows: Float64Array,
  dim: number,
  name = 'table',
): FeatureExtractor & { calls: number } {
  return {
    name,
    preprocessing: 'lookup',
    dims: { pool: dim },
    calls: 0,
    async extract(images: tf.Tensor4D) {
      this.calls++;
      const d = await images.data();
      const n = images.shape[0];
      const per = d.length / n;
      const pool = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) pool.set(rows.subarray(d[i * per] * dim, (d[i * per] + 1) * dim), i * dim);
      return { pool };
    },
    dispose() {},
  };
}

function indexImages(n: number): tf.Tensor4D {
  const x = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) x[i * 3] = i;
  return tf.tensor4d(x, [n, 1, 1, 3]);
}

describe('computeReference and labelled feature sets', () => {
  const d = 5;
  const rows = Float64Array.from(Float32Array.from(samples(60, d, 5)));
  const rows2 = Float64Array.from(Float32Array.from(samples(60, d, 6, 0.2)));

  it('streams statistics equal to the whole-set ones, keeping a seeded uniform subsample of the features', async () => {
    const ex = tableExtractor(rows, d);
    const images = indexImages(60);
    const ref = await computeReference(ex, images, { batchSize: 7, keepFeatures: 20, seed: 3 });
    expect(ex.calls).toBe(9);
    const direct = featureStats(d).add(rows);
    expect(ref.count).toBe(60);
    expect(ref.extractor).toBe('table');
    expect(ref.spatial).toBeNull();
    ref.pool.mu.forEach((v, i) => {
      expect(v).toBeCloseTo(direct.mean()[i], 10);
    });
    ref.pool.sigma.forEach((v, i) => {
      expect(v).toBeCloseTo(direct.covariance()[i], 9);
    });
    const kept = ref.features as Float32Array;
    expect(kept.length).toBe(20 * d);
    // Every kept row is a distinct original row.
    const index = new Set<number>();
    for (let r = 0; r < 20; r++) {
      const hit = Array.from({ length: 60 }, (_, i) => i).find((i) =>
        Array.from({ length: d }, (_, j) => j).every((j) => kept[r * d + j] === Math.fround(rows[i * d + j])),
      );
      expect(hit).toBeDefined();
      index.add(hit as number);
    }
    expect(index.size).toBe(20);
    // Not just the first 20 (the reservoir replaced some), and the same again for the same seed.
    expect([...index].some((i) => i >= 20)).toBe(true);
    const again = await computeReference(ex, images, { batchSize: 60, keepFeatures: 20, seed: 3 });
    expect(Array.from(again.features as Float32Array)).toEqual(Array.from(kept));
    // Below the cap every row is kept, in order.
    const all = await computeReference(ex, images, { keepFeatures: 100 });
    expect(Array.from(all.features as Float32Array)).toEqual(Array.from(Float32Array.from(rows)));
    images.dispose();
  });

  it('frechetBetween equals the Fréchet distance of the statistics, by either route, and refuses mixed extractors', async () => {
    const images = indexImages(60);
    const a = await computeReference(tableExtractor(rows, d), images);
    const b = await computeReference(tableExtractor(rows2, d), images);
    const want = frechetDistance(a.pool.mu, a.pool.sigma, b.pool.mu, b.pool.sigma);
    expect(frechetBetween(a, b)).toBeCloseTo(want, 12);
    expect(frechetBetween(b, a)).toBeCloseTo(want, 9);
    // 60 samples in 200-d: small enough for the sample-space route.
    const wide = Float64Array.from({ length: 60 * 200 }, (_, i) => Math.sin(i * 0.37) + (i % 7) * 0.1);
    const wide2 = Float64Array.from({ length: 60 * 200 }, (_, i) => Math.cos(i * 0.11) * 0.5);
    const wa = await computeReference(tableExtractor(wide, 200, 'wide'), images);
    const wb = await computeReference(tableExtractor(wide2, 200, 'wide'), images);
    expect(frechetBetween(wa, wb)).toBeCloseTo(
      frechetDistance(wa.pool.mu, wa.pool.sigma, wb.pool.mu, wb.pool.sigma),
      5,
    );
    const other = { ...b, extractor: 'inception-v3-fid[pt_inception-2015-12-05]:adm' };
    expect(() => frechetBetween(a, other)).toThrow(
      /refusing to compare feature sets from different feature extractors \('table' vs 'inception/,
    );
    expect(() => frechetBetween(a, a, 'spatial')).toThrow(/spatial statistics/);
    images.dispose();
  });

  it('round-trips through .npz, and reads ADM reference batches (mu, sigma, mu_s, sigma_s, arr_0)', async () => {
    const images = indexImages(60);
    const ref = await computeReference(tableExtractor(rows, d), images, { keepFeatures: 10 });
    const back = referenceFromNpz(referenceToNpz(ref));
    expect(back.extractor).toBe('table');
    expect(back.count).toBe(60);
    expect(Array.from(back.pool.sigma)).toEqual(Array.from(ref.pool.sigma));
    expect(Array.from(back.features as Float32Array)).toEqual(Array.from(ref.features as Float32Array));
    expect(back.images).toBeNull();
    expect(() => referenceFromNpz(referenceToNpz(ref), { extractor: 'other' })).toThrow(/come from 'table'/);

    const levels = Uint8Array.from({ length: 3 * 4 * 4 * 3 }, (_, i) => (i * 37) % 256);
    const f64 = (v: number[], shape: number[]) => ({
      dtype: 'float64' as const,
      shape,
      data: Float64Array.from(v),
    });
    const adm = serializeNpz({
      mu: f64([1, 2], [2]),
      sigma: f64([2, 1, 1, 2], [2, 2]),
      mu_s: f64([0], [1]),
      sigma_s: f64([1], [1, 1]),
      arr_0: { dtype: 'uint8', shape: [3, 4, 4, 3], data: levels },
    });
    const r = referenceFromNpz(adm, { batchSize: 2 });
    expect(r.extractor).toBe(fidExtractorName('adm'));
    expect(r.count).toBe(3);
    expect(Array.from(r.pool.mu)).toEqual([1, 2]);
    expect(r.spatial?.sigma).toEqual(Float64Array.of(1));
    expect(r.features).toBeNull();
    // arr_0 as images: both quantisations give the stored levels back exactly.
    const got: number[][] = [[], []];
    for (const x of (r.images as () => Iterable<tf.Tensor4D>)()) {
      got[0].push(...toPixelLevels(x, 'ldmae').dataSync());
      got[1].push(...toPixelLevels(x, 'adm').dataSync());
      x.dispose();
    }
    expect(got[0]).toEqual(Array.from(levels));
    expect(got[1]).toEqual(Array.from(levels));
    const noMu = serializeNpz({ arr_0: { dtype: 'uint8', shape: [1, 1, 1, 3], data: new Uint8Array(3) } });
    expect(() => referenceFromNpz(noMu)).toThrow(/no 'mu'/);
    const badSigma = serializeNpz({ mu: f64([1, 2], [2]), sigma: f64([1, 2, 3], [3]) });
    expect(() => referenceFromNpz(badSigma)).toThrow(/'sigma' has shape \[3\], expected \[2,2\]/);
    images.dispose();
  });

  it('rejects bad input before reading any image', async () => {
    const ex = tableExtractor(rows, d);
    await expect(computeReference({} as never, indexImages(3))).rejects.toThrow(/FeatureExtractor/);
    await expect(computeReference(ex, 'images' as never)).rejects.toThrow(
      /computeReference: images must be an ImageBatchSource: .*got string/,
    );
    await expect(computeReference(ex, indexImages(1))).rejects.toThrow(/at least 2 images/);
    await expect(computeReference(ex, indexImages(3), { keepFeatures: -1 })).rejects.toThrow(/keepFeatures/);
    expect(ex.calls).toBe(0);
  });
});
