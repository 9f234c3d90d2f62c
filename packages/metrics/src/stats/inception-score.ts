/**
 * Inception Score from classifier logits, in float64 and entirely in log space.
 *
 * The references take log of float32 softmax probabilities; a class probability that underflows to
 * 0 there turns into -inf and the 0 * -inf term into NaN. Here log p comes from a log-softmax and the
 * log of the chunk's mean prediction from a log-sum-exp, so nothing is ever log(0).
 */
import { atDoor } from '@ldmae/core';
import { assertFinite, assertFloatArray, checkPositiveInt, type FloatArray } from './checks.js';

/** How the samples are grouped into chunks; give at most one of the two. */
export interface InceptionScoreOptions {
  /** Consecutive chunks of this many samples, the last one possibly shorter (the ADM evaluator: 5000). */
  splitSize?: number;
  /** This many near-equal consecutive chunks, boundaries at floor(i N / splits) (improved-gan: 10). */
  splits?: number;
}

/** Inception Score: the mean over chunks, their population standard deviation, and each chunk's score. */
export interface InceptionScore {
  mean: number;
  std: number;
  /** Per-chunk exp(mean_i KL(p_i || mean p)). */
  scores: Float64Array;
}

/**
 * Inception Score of N samples from their class logits: per chunk exp(mean_i KL(p_i || p_chunk)) with
 * p_i = softmax(logits_i) and p_chunk the chunk's mean of p_i.
 *
 * @param logits - row-major [N, numClasses] (for the 2015 Inception, pool3 times the 1008-class weight,
 *   no bias).
 * @param numClasses - classes per row.
 * @param opts - chunking; default `{ splitSize: 5000 }` like the ADM evaluator (which reports only the
 *   mean). Pass `{ splits: 10 }` for the improved-gan / torch-fidelity convention.
 */
export function inceptionScore(
  logits: FloatArray,
  numClasses: number,
  opts: InceptionScoreOptions = {},
): InceptionScore {
  const bounds = atDoor('inceptionScore', () => {
    checkPositiveInt('numClasses', numClasses);
    assertFloatArray('logits', logits);
    const n = logits.length / numClasses;
    if (!Number.isInteger(n) || n === 0)
      throw new RangeError(`logits must hold N x ${numClasses} values with N >= 1, got ${logits.length}`);
    if (opts.splitSize !== undefined && opts.splits !== undefined)
      throw new RangeError('give opts.splitSize or opts.splits, not both');
    const bounds: number[] = [0];
    if (opts.splits !== undefined) {
      checkPositiveInt('opts.splits', opts.splits);
      if (opts.splits > n)
        throw new RangeError(`opts.splits (${opts.splits}) exceeds the number of samples ${n}`);
      for (let s = 1; s <= opts.splits; s++) bounds.push(Math.floor((s * n) / opts.splits));
    } else {
      const size = opts.splitSize ?? 5000;
      checkPositiveInt('opts.splitSize', size);
      for (let b = size; b < n; b += size) bounds.push(b);
      bounds.push(n);
    }
    assertFinite('logits', logits);
    return bounds;
  });

  const scores = new Float64Array(bounds.length - 1);
  for (let s = 0; s + 1 < bounds.length; s++)
    scores[s] = chunkScore(logits, numClasses, bounds[s], bounds[s + 1]);
  return summarizeChunks(scores);
}

/** The chunk scores with their mean and population standard deviation. Internal. */
export function summarizeChunks(scores: Float64Array): InceptionScore {
  let mean = 0;
  for (const v of scores) mean += v;
  mean /= scores.length;
  let variance = 0;
  for (const v of scores) variance += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(variance / scores.length), scores };
}

function chunkScore(z: FloatArray, c: number, r0: number, r1: number): number {
  const rows = r1 - r0;
  // log-sum-exp of every row: log p_ij = z_ij - lse_i.
  const lse = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const o = (r0 + i) * c;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < c; j++) if (z[o + j] > max) max = z[o + j];
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(z[o + j] - max);
    lse[i] = max + Math.log(s);
  }
  // log mean_i p_ij, as a column-wise log-sum-exp of log p_ij minus log(rows).
  const colMax = new Float64Array(c).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < rows; i++) {
    const o = (r0 + i) * c;
    for (let j = 0; j < c; j++) {
      const lp = z[o + j] - lse[i];
      if (lp > colMax[j]) colMax[j] = lp;
    }
  }
  const colSum = new Float64Array(c);
  for (let i = 0; i < rows; i++) {
    const o = (r0 + i) * c;
    for (let j = 0; j < c; j++) colSum[j] += Math.exp(z[o + j] - lse[i] - colMax[j]);
  }
  const logMean = new Float64Array(c);
  const logRows = Math.log(rows);
  for (let j = 0; j < c; j++) logMean[j] = colMax[j] + Math.log(colSum[j]) - logRows;
  let kl = 0;
  for (let i = 0; i < rows; i++) {
    const o = (r0 + i) * c;
    let k = 0;
    for (let j = 0; j < c; j++) {
      const lp = z[o + j] - lse[i];
      k += Math.exp(lp) * (lp - logMean[j]);
    }
    kl += k;
  }
  return Math.exp(kl / rows);
}
