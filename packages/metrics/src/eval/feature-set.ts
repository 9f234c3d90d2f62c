/**
 * Features of an image set, reduced to what the metrics need and labelled with the extractor that made
 * them: float64 Gaussian statistics (FID, sFID), a bounded random subsample of the pool features
 * (precision / recall) and streamed Inception Score chunks.
 *
 * Memory at 50k images and 2048-d features: the statistics take dim^2 float64 (32 MiB per feature kind,
 * whatever the count); the kept pool features take 4 x 2048 bytes per image, 400 MB for all 50k, which
 * is why `keepFeatures` caps them (a uniform random subsample by reservoir sampling beyond the cap);
 * the IS buffer holds one chunk of logits (5000 x 1008 float32, 20 MB).
 */
import {
  atDoor,
  checkImageBatchSource,
  createRng,
  type ImageBatchSource,
  imageSourceCount,
  type Progress,
  type ProgressCallback,
  type Rng,
} from '@ldmae/core';
import { assertExtractor, checkExtracted, type FeatureExtractor } from '../features/types.js';

import { checkPositiveInt } from '../stats/checks.js';
import { FeatureStats } from '../stats/feature-stats.js';

import { frechetDistance } from '../stats/frechet.js';

import { type InceptionScore, inceptionScore, summarizeChunks } from '../stats/inception-score.js';

import { frechetDistanceFromSamples } from './frechet-samples.js';

import { ProgressReporter } from './progress.js';

import { imageBatches } from './source.js';

/** Mean [dim] and covariance [dim, dim] (row-major, N - 1 denominator) of a feature set. */
export interface GaussianStats {
  mu: Float64Array;
  sigma: Float64Array;
}

/**
 * A reference set for the generation metrics, in one extractor's feature space: from
 * {@link computeReference}, from an ADM evaluator `.npz` ({@link referenceFromNpz}), or built by hand.
 */
export interface FeatureReference {
  /** The {@link FeatureExtractor.name} the features come from; metrics refuse any other extractor. */
  extractor: string;
  /** Images behind the statistics (0 when unknown, e.g. an ADM file without arr_0). */
  count: number;
  /** Pool-feature statistics (FID). */
  pool: GaussianStats;
  /** Spatial-feature statistics (sFID), or null. */
  spatial: GaussianStats | null;
  /** Row-major [m, poolDim] pool features for precision / recall (a subsample when m < count), or null. */
  features: Float32Array | null;
  /** Images to compute `features` from when they are missing (the ADM file's arr_0), or null. */
  images?: ImageBatchSource | null;
}

/** Options of {@link computeReference} and the feature passes of the evaluations. */
export interface FeatureSetOptions {
  /** Images per extractor call. Default 32. */
  batchSize?: number;
  /**
   * Pool features kept for precision / recall: 0 for none; beyond the cap a uniform random subsample
   * (reservoir sampling, seeded by `seed`). Default 50000 (about 400 MB at 2048-d when reached).
   */
  keepFeatures?: number;
  /** Seed of the subsample. Default 0. */
  seed?: number;
  onProgress?: ProgressCallback<Progress>;
}

/** `buf` (rows of `width` values) when it holds `rows` rows, else a copy grown to twice, at most `cap` rows. */
function withRows(buf: Float32Array, rows: number, width: number, cap: number): Float32Array {
  if (rows * width <= buf.length) return buf;
  const grown = new Float32Array(Math.min(cap, Math.max(2 * (buf.length / width), rows)) * width);
  grown.set(buf);
  return grown;
}

/** Accumulates the features of one image set. Internal. */
export class FeatureCollector {
  readonly pool: FeatureStats;
  readonly spatial: FeatureStats | null;
  private readonly poolDim: number;
  private readonly keepCap: number;
  private kept: Float32Array;
  private seen = 0;
  private readonly rng: Rng;
  private readonly isChunk: number;
  private readonly logitDim: number;
  private logitBuf: Float32Array | null;
  private logitRows = 0;
  private readonly isScores: number[] = [];

  constructor(
    readonly extractor: FeatureExtractor,
    opts: {
      keepFeatures: number;
      seed: number;
      spatial: boolean;
      isSplitSize: number | 0;
      expected?: number;
    },
  ) {
    const d = extractor.dims;
    this.poolDim = d.pool;
    this.pool = new FeatureStats(d.pool);
    this.spatial = opts.spatial && d.spatial ? new FeatureStats(d.spatial) : null;
    this.keepCap = opts.keepFeatures;
    const initial = Math.min(this.keepCap, Math.max(opts.expected ?? 256, 1));
    this.kept = new Float32Array(initial * d.pool);
    this.rng = createRng(opts.seed);
    this.logitDim = d.logits ?? 0;
    this.isChunk = opts.isSplitSize && this.logitDim ? opts.isSplitSize : 0;
    this.logitBuf = this.isChunk
      ? new Float32Array(Math.min(this.isChunk, Math.max(opts.expected ?? 256, 1)) * this.logitDim)
      : null;
  }

  /** Images added so far. */
  get count(): number {
    return this.seen;
  }

  /** Adds the features of n images, checking their sizes against the extractor's dims. */
  add(f: { pool: Float32Array; spatial?: Float32Array; logits?: Float32Array }, n: number): void {
    checkExtracted(this.extractor, 'pool', f.pool, n, this.poolDim);
    this.pool.add(f.pool, n);
    if (this.spatial) {
      checkExtracted(this.extractor, 'spatial', f.spatial, n, this.spatial.dim);
      this.spatial.add(f.spatial, n);
    }
    if (this.isChunk) {
      checkExtracted(this.extractor, 'logits', f.logits, n, this.logitDim);
      this.addLogits(f.logits, n);
    }
    if (this.keepCap > 0) this.keep(f.pool, n);
    this.seen += n;
  }

  private keep(pool: Float32Array, n: number): void {
    const d = this.poolDim;
    for (let r = 0; r < n; r++) {
      const i = this.seen + r;
      let slot = i;
      if (i >= this.keepCap) {
        slot = this.rng.nextInt(i + 1);
        if (slot >= this.keepCap) continue;
      }
      this.kept = withRows(this.kept, slot + 1, d, this.keepCap);
      this.kept.set(pool.subarray(r * d, (r + 1) * d), slot * d);
    }
  }

  private addLogits(logits: Float32Array, n: number): void {
    const L = this.logitDim;
    for (let r = 0; r < n; ) {
      const take = Math.min(n - r, this.isChunk - this.logitRows);
      const buf = withRows(this.logitBuf as Float32Array, this.logitRows + take, L, this.isChunk);
      this.logitBuf = buf;
      buf.set(logits.subarray(r * L, (r + take) * L), this.logitRows * L);
      this.logitRows += take;
      r += take;
      if (this.logitRows === this.isChunk) this.flushLogits();
    }
  }

  private flushLogits(): void {
    if (this.logitRows === 0) return;
    const rows = this.logitRows;
    const view = (this.logitBuf as Float32Array).subarray(0, rows * this.logitDim);
    this.isScores.push(inceptionScore(view, this.logitDim, { splitSize: rows }).scores[0]);
    this.logitRows = 0;
  }

  /** Inception Score over the chunks so far (the last one possibly shorter), or null without logits. */
  inceptionScore(): InceptionScore | null {
    if (!this.isChunk || this.seen === 0) return null;
    this.flushLogits();
    return summarizeChunks(Float64Array.from(this.isScores));
  }

  /** The kept pool features, [min(count, keepFeatures), poolDim]. */
  keptFeatures(): Float32Array | null {
    if (this.keepCap === 0) return null;
    return this.kept.slice(0, Math.min(this.seen, this.keepCap) * this.poolDim);
  }

  /** The set as a {@link FeatureReference}. */
  reference(): FeatureReference {
    if (this.seen < 2) throw new RangeError(`feature statistics need at least 2 images, got ${this.seen}`);
    return {
      extractor: this.extractor.name,
      count: this.seen,
      pool: { mu: this.pool.mean(), sigma: this.pool.covariance() },
      spatial: this.spatial ? { mu: this.spatial.mean(), sigma: this.spatial.covariance() } : null,
      features: this.keptFeatures(),
    };
  }
}

/**
 * Reads every image of `images` once through `extractor` and returns the set's statistics and a bounded
 * subsample of its pool features: the reference side of {@link evaluateGeneration}, reusable across
 * evaluations (save it with {@link referenceToNpz}).
 *
 * @param images - [n, H, W, 3] in [-1, 1], see `ImageBatchSource` of @ldmae/core; at least 2 images.
 */
export async function computeReference(
  extractor: FeatureExtractor,
  images: ImageBatchSource,
  opts: FeatureSetOptions = {},
): Promise<FeatureReference> {
  const door = 'computeReference';
  const o = atDoor(door, () => {
    assertExtractor('extractor', extractor);
    const batchSize = checkPositiveInt('opts.batchSize', opts.batchSize ?? 32);
    const keepFeatures = opts.keepFeatures ?? 50000;
    if (!Number.isInteger(keepFeatures) || keepFeatures < 0)
      throw new RangeError(`opts.keepFeatures must be an integer >= 0, got ${keepFeatures}`);
    const seed = opts.seed ?? 0;
    if (!Number.isFinite(seed)) throw new RangeError('opts.seed must be a finite number');
    return { batchSize, keepFeatures, seed };
  });
  checkReferenceImages(door, 'images', images, o.batchSize);
  return referenceFeatures(extractor, images, { ...o, onProgress: opts.onProgress }, door, 'images');
}

/**
 * Throws unless `images` is an image source (core's check, naming `door` and `name`) of at least 2 images
 * when its size is known. Internal.
 */
export function checkReferenceImages(
  door: string,
  name: string,
  images: unknown,
  batchSize: number,
  expected?: string,
): void {
  checkImageBatchSource(images, { caller: door, argument: name, batchSize, expected });
  const total = imageSourceCount(images);
  if (total !== undefined && total < 2)
    throw new RangeError(`${door}: ${name} must hold at least 2 images, got ${total}`);
}

/**
 * {@link computeReference} on checked inputs; `door` and `name` name the source in the errors of its
 * batches, which core checks as they come. Internal.
 */
export async function referenceFeatures(
  extractor: FeatureExtractor,
  images: ImageBatchSource,
  o: Required<Omit<FeatureSetOptions, 'onProgress'>> & Pick<FeatureSetOptions, 'onProgress'>,
  door: string,
  name: string,
): Promise<FeatureReference> {
  const total = imageSourceCount(images);
  const progress = new ProgressReporter('reference-features', total, o.onProgress);
  const c = new FeatureCollector(extractor, {
    keepFeatures: o.keepFeatures,
    seed: o.seed,
    spatial: true,
    isSplitSize: 0,
    expected: total,
  });
  for await (const x of imageBatches(images, o.batchSize, door, name)) {
    c.add(await extractor.extract(x), x.shape[0]);
    progress.add(x.shape[0]);
  }
  return c.reference();
}

/** Throws unless both sides name the same extractor. */
export function assertSameExtractor(
  a: { extractor: string },
  b: { extractor: string },
  what = 'feature sets',
): void {
  if (a.extractor !== b.extractor) {
    throw new Error(
      `refusing to compare ${what} from different feature extractors ('${a.extractor}' vs '${b.extractor}'); ` +
        'compute both with the same extractor (same network, weights and input pipeline)',
    );
  }
}

/** Whether a set's kept pool features are all of its samples, few enough for the sample-space route. */
function smallAndComplete(
  r: Partial<FeatureReference>,
  dim: number,
): r is FeatureReference & { features: Float32Array } {
  return (
    r.features instanceof Float32Array &&
    typeof r.count === 'number' &&
    r.count >= 2 &&
    r.count <= dim / 2 &&
    r.features.length === r.count * dim
  );
}

/**
 * Fréchet distance between two labelled feature sets (FID on 'pool', sFID on 'spatial'); refuses sets
 * from different extractors. When both sets keep all their pool features and have at most dim / 2
 * samples, FID is computed from the samples ({@link frechetDistanceFromSamples}: same value, far faster).
 */
export function frechetBetween(
  a: Pick<FeatureReference, 'extractor' | 'pool' | 'spatial'> & Partial<FeatureReference>,
  b: Pick<FeatureReference, 'extractor' | 'pool' | 'spatial'> & Partial<FeatureReference>,
  which: 'pool' | 'spatial' = 'pool',
): number {
  const fn = 'frechetBetween';
  for (const [n, r] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (r === null || typeof r !== 'object' || typeof r.extractor !== 'string')
      throw new TypeError(`${fn}: ${n} must be a labelled feature set {extractor, pool, spatial}`);
  }
  atDoor(fn, () => assertSameExtractor(a, b));
  const sa = a[which];
  const sb = b[which];
  if (!sa || !sb) throw new Error(`${fn}: both sets need ${which} statistics (extractor '${a.extractor}')`);
  const dim = sa.mu.length;
  if (which === 'pool' && smallAndComplete(a, dim) && smallAndComplete(b, dim))
    return frechetDistanceFromSamples(a.features, b.features, dim);
  return frechetDistance(sa.mu, sa.sigma, sb.mu, sb.sigma);
}
