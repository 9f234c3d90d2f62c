/**
 * Streaming mean and covariance of feature vectors in float64, mergeable across workers or files.
 *
 * Sums are taken of x - shift, where the shift is the mean of the first batch: Inception pool
 * features have means far from zero compared with their spread, and sum(x x^T) - N mu mu^T would
 * cancel away most of the significant digits. Merging uses the pairwise (Chan et al.) update, which
 * is exact in exact arithmetic and re-centres the shift on the merged mean.
 */
import { atDoor } from '@ldmae/core';
import { assertFinite, assertFloatArray, checkPositiveInt, describe, type FloatArray } from './checks.js';
import { mirrorUpper, multiplyABt } from './gemm.js';

/** Rows handled per pass of the covariance kernel (the transposed chunk is dim x CHUNK). */
const CHUNK = 128;

/** Plain-object form of {@link FeatureStats}: survives JSON.stringify / JSON.parse exactly. */
export interface FeatureStatsJSON {
  format: 'ldmae-feature-stats';
  version: 1;
  dim: number;
  count: number;
  /** [dim] the point the sums are taken around. */
  shift: number[];
  /** [dim] sum of (x - shift). */
  sum: number[];
  /** Upper triangle (row-major, j >= i) of sum of (x - shift)(x - shift)^T: dim (dim + 1) / 2 values. */
  sumOuter: number[];
}

/**
 * Accumulates the mean and the covariance (N - 1 denominator, like numpy.cov) of dim-dimensional
 * samples added in batches, in float64. Memory: dim^2 float64 (32 MiB at dim = 2048).
 */
export class FeatureStats {
  /** Feature dimension. */
  readonly dim: number;
  private n = 0;
  private shift: Float64Array;
  private sum: Float64Array;
  /** dim x dim, upper triangle valid. */
  private outer: Float64Array;

  constructor(dim: number) {
    atDoor('featureStats', () => checkPositiveInt('dim', dim));
    this.dim = dim;
    this.shift = new Float64Array(dim);
    this.sum = new Float64Array(dim);
    this.outer = new Float64Array(dim * dim);
  }

  /** Number of samples accumulated. */
  get count(): number {
    return this.n;
  }

  /**
   * Adds n samples.
   *
   * @param batch - row-major [n, dim] features.
   * @param n - number of rows; default batch.length / dim.
   */
  add(batch: FloatArray, n?: number): this {
    const dim = this.dim;
    const rows = atDoor('FeatureStats.add', () => {
      assertFloatArray('batch', batch);
      const rows = n ?? batch.length / dim;
      if (!Number.isInteger(rows) || rows < 0 || rows * dim !== batch.length) {
        throw new RangeError(
          `batch must hold n x dim = ${n ?? '?'} x ${dim} values (row-major [n, ${dim}]), got ${batch.length}`,
        );
      }
      assertFinite('batch', batch);
      return rows;
    });
    if (rows === 0) return this;
    const shift = this.shift;
    if (this.n === 0) {
      shift.fill(0);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        for (let p = 0; p < dim; p++) shift[p] += batch[o + p];
      }
      for (let p = 0; p < dim; p++) shift[p] /= rows;
    }
    const buf = new Float64Array(dim * Math.min(CHUNK, rows));
    for (let r0 = 0; r0 < rows; r0 += CHUNK) {
      const ch = Math.min(CHUNK, rows - r0);
      // Transposed so that the covariance kernel reads each feature's values contiguously.
      const yt = buf.subarray(0, dim * ch);
      for (let b = 0; b < ch; b++) {
        const o = (r0 + b) * dim;
        for (let p = 0; p < dim; p++) yt[p * ch + b] = batch[o + p] - shift[p];
      }
      for (let p = 0; p < dim; p++) {
        let s = 0;
        const o = p * ch;
        for (let b = 0; b < ch; b++) s += yt[o + b];
        this.sum[p] += s;
      }
      multiplyABt(yt, dim, yt, dim, ch, this.outer, { accumulate: true, upper: true });
    }
    this.n += rows;
    return this;
  }

  /** Adds the samples summarised by `other` (same dim) into this accumulator. */
  merge(other: FeatureStats): this {
    const fn = 'FeatureStats.merge';
    if (!(other instanceof FeatureStats))
      throw new TypeError(`${fn}: other must be a FeatureStats, got ${describe(other)}`);
    if (other.dim !== this.dim)
      throw new RangeError(`${fn}: other.dim is ${other.dim}, expected ${this.dim}`);
    if (other.n === 0) return this;
    const src = other === this ? this.clone() : other;
    if (this.n === 0) {
      this.n = src.n;
      this.shift.set(src.shift);
      this.sum.set(src.sum);
      this.outer.set(src.outer);
      return this;
    }
    const dim = this.dim;
    const na = this.n;
    const nb = src.n;
    const total = na + nb;
    const ma = new Float64Array(dim);
    const mb = new Float64Array(dim);
    const delta = new Float64Array(dim);
    for (let p = 0; p < dim; p++) {
      ma[p] = this.sum[p] / na;
      mb[p] = src.sum[p] / nb;
      delta[p] = src.shift[p] - this.shift[p] + (mb[p] - ma[p]);
    }
    const w = (na * nb) / total;
    const a = this.outer;
    const b = src.outer;
    for (let p = 0; p < dim; p++) {
      const o = p * dim;
      for (let q = p; q < dim; q++) {
        // Centred scatter of each part, plus the between-part term.
        a[o + q] = a[o + q] - na * ma[p] * ma[q] + (b[o + q] - nb * mb[p] * mb[q]) + w * delta[p] * delta[q];
      }
    }
    for (let p = 0; p < dim; p++) {
      this.shift[p] = this.shift[p] + ma[p] + (delta[p] * nb) / total;
      this.sum[p] = 0;
    }
    this.n = total;
    return this;
  }

  /** Mean [dim] of the samples so far (float64). Throws when no sample was added. */
  mean(): Float64Array {
    if (this.n === 0) throw new RangeError('FeatureStats.mean: no samples were added');
    const out = new Float64Array(this.dim);
    for (let p = 0; p < this.dim; p++) out[p] = this.shift[p] + this.sum[p] / this.n;
    return out;
  }

  /** Covariance [dim, dim] row-major with the N - 1 denominator. Throws with fewer than 2 samples. */
  covariance(): Float64Array {
    if (this.n < 2) throw new RangeError(`FeatureStats.covariance: needs at least 2 samples, got ${this.n}`);
    const dim = this.dim;
    const n = this.n;
    const out = new Float64Array(dim * dim);
    for (let p = 0; p < dim; p++) {
      const o = p * dim;
      const sp = this.sum[p] / n;
      for (let q = p; q < dim; q++) out[o + q] = (this.outer[o + q] - sp * this.sum[q]) / (n - 1);
    }
    mirrorUpper(out, dim);
    return out;
  }

  /** An independent copy. */
  clone(): FeatureStats {
    const c = new FeatureStats(this.dim);
    c.n = this.n;
    c.shift.set(this.shift);
    c.sum.set(this.sum);
    c.outer.set(this.outer);
    return c;
  }

  /** Plain-object snapshot (exact through JSON, since doubles print round-trip). */
  toJSON(): FeatureStatsJSON {
    const dim = this.dim;
    const packed: number[] = new Array((dim * (dim + 1)) / 2);
    let k = 0;
    for (let p = 0; p < dim; p++) for (let q = p; q < dim; q++) packed[k++] = this.outer[p * dim + q];
    return {
      format: 'ldmae-feature-stats',
      version: 1,
      dim,
      count: this.n,
      shift: Array.from(this.shift),
      sum: Array.from(this.sum),
      sumOuter: packed,
    };
  }

  /** Restores an accumulator from {@link FeatureStats.toJSON} output, checking every field. */
  static fromJSON(json: FeatureStatsJSON): FeatureStats {
    const fn = 'FeatureStats.fromJSON';
    if (
      json === null ||
      typeof json !== 'object' ||
      json.format !== 'ldmae-feature-stats' ||
      json.version !== 1
    ) {
      throw new TypeError(
        `${fn}: json must be the output of FeatureStats.toJSON (format 'ldmae-feature-stats', version 1)`,
      );
    }
    const dim = json.dim;
    atDoor(fn, () => checkPositiveInt('json.dim', dim));
    if (!Number.isInteger(json.count) || json.count < 0) {
      throw new RangeError(`${fn}: json.count must be a non-negative integer, got ${json.count}`);
    }
    const lengths: [keyof FeatureStatsJSON, number][] = [
      ['shift', dim],
      ['sum', dim],
      ['sumOuter', (dim * (dim + 1)) / 2],
    ];
    for (const [key, len] of lengths) {
      const v = json[key];
      if (!Array.isArray(v) || v.length !== len) {
        throw new RangeError(`${fn}: json.${key} must be an array of ${len} numbers`);
      }
      for (let i = 0; i < len; i++) {
        if (typeof v[i] !== 'number' || !Number.isFinite(v[i])) {
          throw new RangeError(`${fn}: json.${key}[${i}] must be a finite number, got ${String(v[i])}`);
        }
      }
    }
    const s = new FeatureStats(dim);
    s.n = json.count;
    s.shift.set(json.shift);
    s.sum.set(json.sum);
    let k = 0;
    for (let p = 0; p < dim; p++) for (let q = p; q < dim; q++) s.outer[p * dim + q] = json.sumOuter[k++];
    return s;
  }
}

/**
 * A streaming, mergeable float64 mean / covariance accumulator for dim-dimensional features.
 *
 * @example
 * const stats = featureStats(2048);
 * for (const batch of batches) stats.add(batch); // Float32Array [b, 2048]
 * const fid = frechetDistance(stats.mean(), stats.covariance(), refMu, refSigma);
 */
export function featureStats(dim: number): FeatureStats {
  return new FeatureStats(dim);
}
