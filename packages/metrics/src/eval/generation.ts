/**
 * Generation quality: gFID, sFID, Inception Score and improved precision / recall of generated images
 * against a reference set, as the ADM evaluator computes them (paper Tab. 2 / 3).
 */
import {
  atDoor,
  checkImageBatchSource,
  type ImageBatchSource,
  imageSourceCount,
  type Progress,
  type ProgressCallback,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { assertExtractor, type FeatureExtractor } from '../features/types.js';

import { checkPositiveInt } from '../stats/checks.js';
import { type DistanceBlockFn, precisionRecall } from '../stats/precision-recall.js';

// For the {@link} in the TSDoc of distanceBlock.
import type { tfDistanceBlock } from './distance-block.js';

import { checkExtractor, withExtractor } from './evaluate-reconstruction.js';

import {
  assertSameExtractor,
  checkReferenceImages,
  FeatureCollector,
  type FeatureReference,
  frechetBetween,
  referenceFeatures,
} from './feature-set.js';

import { ProgressReporter } from './progress.js';

import { imageBatches } from './source.js';

/** Draws generated images batch by batch. */
export interface GenerationSampler {
  /**
   * n images [n, H, W, 3] in [-1, 1] (the evaluation disposes them). `batchIndex` counts the calls
   * from 0, e.g. to seed each batch.
   */
  sample(n: number, batchIndex: number): tf.Tensor4D | Promise<tf.Tensor4D>;
}

/** Options of improved precision / recall in {@link evaluateGeneration}. */
export interface GenerationPrecisionRecallOptions {
  /**
   * Generated (and, when computed here, reference) pool features kept: a uniform random subsample
   * beyond it. Default 50000 (400 MB of float32 at 2048-d).
   */
  maxSamples?: number;
  /** Neighbourhood size. Default 3. */
  k?: number;
  /** Rows per distance block. Default 1024. */
  blockSize?: number;
  /**
   * The distance kernel. Default: {@link precisionRecall}'s own, which gives the float64 kernel's radii,
   * precision and recall exactly, on WebAssembly SIMD (and worker threads in Node), faster than
   * {@link tfDistanceBlock}; it runs on the CPU whatever the tfjs backend. Pass `tfDistanceBlock()` to
   * compute the distances with float32 tf.matMul on the active backend instead.
   */
  distanceBlock?: DistanceBlockFn;
}

/** Options of {@link evaluateGeneration}. */
export interface EvaluateGenerationOptions {
  /**
   * The feature network; the reference must come from the same one (by name). Required in the browser
   * entry; in Node, leaving it out loads the offline nsfwjs extractor.
   */
  extractor?: FeatureExtractor;
  /** Number of images to draw from a {@link GenerationSampler}; required with one (ignored otherwise). */
  numSamples?: number;
  /** Images per sampler / extractor call. Default 32. */
  batchSize?: number;
  /** Precision / recall settings, or false to skip them. Default on. */
  precisionRecall?: false | GenerationPrecisionRecallOptions;
  /** Inception Score chunk size (ADM: 5000); 0 skips IS. Default 5000. IS needs an extractor with logits. */
  inceptionScoreSplitSize?: number;
  /**
   * Compute sFID when the extractor and the reference have spatial features. Default true. Below a few
   * thousand samples its 2023-d covariance eigendecomposition (minutes in JavaScript) dominates the cost.
   */
  sfid?: boolean;
  /** Seed of the feature subsamples. Default 0. */
  seed?: number;
  onProgress?: ProgressCallback<Progress>;
}

/** Result of {@link evaluateGeneration}. */
export interface GenerationResult {
  /** The feature extractor all numbers come from. */
  extractor: string;
  /** Generated images evaluated. */
  count: number;
  /** Images behind the reference statistics (0 when the file does not say). */
  referenceCount: number;
  fid: number;
  /** null when the extractor or the reference has no spatial features, or `opts.sfid` is false. */
  sfid: number | null;
  /** Mean over chunks of exp(E KL(p(y|x) || p(y))), or null (no logits, or skipped). */
  inceptionScore: number | null;
  /** Population std over the IS chunks, or null. */
  inceptionScoreStd: number | null;
  precision: number | null;
  recall: number | null;
  /** Features compared by precision / recall (after subsampling), or null when skipped. */
  precisionRecallSamples: { generated: number; reference: number } | null;
}

function isSampler(x: unknown): x is GenerationSampler {
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof (x as GenerationSampler).sample === 'function' &&
    !(x instanceof tf.Tensor)
  );
}

function isReference(x: unknown): x is FeatureReference {
  return (
    x !== null &&
    typeof x === 'object' &&
    !(x instanceof tf.Tensor) &&
    typeof (x as FeatureReference).extractor === 'string' &&
    typeof (x as FeatureReference).pool === 'object'
  );
}

function samplerSource(sampler: GenerationSampler, total: number, batchSize: number): ImageBatchSource {
  return async function* () {
    let done = 0;
    for (let i = 0; done < total; i++) {
      const n = Math.min(batchSize, total - done);
      const x = await sampler.sample(n, i);
      if (!(x instanceof tf.Tensor) || x.shape[0] !== n) {
        if (x instanceof tf.Tensor) x.dispose();
        throw new Error(
          `evaluateGeneration: sampler.sample(${n}, ${i}) must return a tf.Tensor4D of ${n} images, got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
        );
      }
      done += n;
      yield x as tf.Tensor4D;
    }
  };
}

/** Implementation of {@link evaluateGeneration}, with the entry's default extractor. Internal. */
export async function runGeneration(
  samples: ImageBatchSource | GenerationSampler,
  reference: FeatureReference | ImageBatchSource,
  opts: EvaluateGenerationOptions,
  loadDefault?: () => Promise<FeatureExtractor>,
): Promise<GenerationResult> {
  const fn = 'evaluateGeneration';
  const { batchSize, numSamples, pr, maxSamples, isSplit, seed } = atDoor(fn, () => {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
    if (opts.extractor !== undefined) assertExtractor('opts.extractor', opts.extractor);
    checkExtractor(opts.extractor, loadDefault);
    const batchSize = checkPositiveInt('opts.batchSize', opts.batchSize ?? 32);
    const numSamples = isSampler(samples) ? checkPositiveInt('opts.numSamples', opts.numSamples) : undefined;
    const pr = opts.precisionRecall ?? {};
    const maxSamples = pr === false ? 0 : (pr.maxSamples ?? 50000);
    if (pr !== false) checkPositiveInt('opts.precisionRecall.maxSamples', maxSamples);
    const isSplit = opts.inceptionScoreSplitSize ?? 5000;
    if (!Number.isInteger(isSplit) || isSplit < 0)
      throw new RangeError(`opts.inceptionScoreSplitSize must be an integer >= 0, got ${isSplit}`);
    const seed = opts.seed ?? 0;
    if (!Number.isFinite(seed)) throw new RangeError('opts.seed must be a finite number');
    return { batchSize, numSamples, pr, maxSamples, isSplit, seed };
  });
  let source: ImageBatchSource;
  let total = numSamples;
  if (numSamples !== undefined) source = samplerSource(samples as GenerationSampler, numSamples, batchSize);
  else {
    const expected = 'an ImageBatchSource or a GenerationSampler';
    checkImageBatchSource(samples, { caller: fn, argument: 'samples', batchSize, expected });
    source = samples as ImageBatchSource;
    total = imageSourceCount(samples);
  }
  if (total !== undefined && total < 2)
    throw new RangeError(`${fn}: FID needs at least 2 generated images, got ${total}`);
  const refIsStats = isReference(reference);
  if (!refIsStats)
    checkReferenceImages(fn, 'reference', reference, batchSize, 'a FeatureReference or an ImageBatchSource');
  else if (pr !== false && !reference.features) {
    if (!reference.images)
      throw new Error(
        `${fn}: precision / recall need reference features, and the reference has neither features nor images; pass opts.precisionRecall: false`,
      );
    checkReferenceImages(fn, 'reference.images', reference.images, batchSize);
  }
  const pass = { batchSize, keepFeatures: maxSamples, seed: seed + 1, onProgress: opts.onProgress };

  return withExtractor(opts.extractor, loadDefault, async (extractor) => {
    const ex = extractor as FeatureExtractor;
    // Compare names before any image is generated.
    if (refIsStats)
      atDoor(fn, () =>
        assertSameExtractor({ extractor: ex.name }, reference, 'the reference and the extractor'),
      );
    let ref = refIsStats ? reference : await referenceFeatures(ex, reference, pass, fn, 'reference');
    if (pr !== false && !ref.features) {
      const r = await referenceFeatures(ex, ref.images as ImageBatchSource, pass, fn, 'reference.images');
      ref = { ...ref, features: r.features };
    }
    const progress = new ProgressReporter('generated-features', total, opts.onProgress);
    const c = new FeatureCollector(ex, {
      keepFeatures: maxSamples,
      seed,
      spatial: ref.spatial !== null && opts.sfid !== false,
      isSplitSize: isSplit,
      expected: total,
    });
    for await (const x of imageBatches(source, batchSize, fn, 'samples')) {
      c.add(await ex.extract(x), x.shape[0]);
      progress.add(x.shape[0]);
    }
    const gen = c.reference();
    const is = c.inceptionScore();
    let precision: number | null = null;
    let recall: number | null = null;
    let prSamples: GenerationResult['precisionRecallSamples'] = null;
    if (pr !== false) {
      const rf = ref.features as Float32Array;
      const gf = gen.features as Float32Array;
      const d = ex.dims.pool;
      const r = precisionRecall(rf, gf, d, {
        k: pr.k ?? 3,
        blockSize: pr.blockSize ?? 1024,
        distanceBlock: pr.distanceBlock,
      });
      precision = r.precision;
      recall = r.recall;
      prSamples = { generated: gf.length / d, reference: rf.length / d };
    }
    return {
      extractor: ex.name,
      count: gen.count,
      referenceCount: ref.count,
      fid: frechetBetween(ref, gen, 'pool'),
      sfid: ref.spatial && gen.spatial ? frechetBetween(ref, gen, 'spatial') : null,
      inceptionScore: is ? is.mean : null,
      inceptionScoreStd: is ? is.std : null,
      precision,
      recall,
      precisionRecallSamples: prSamples,
    };
  });
}

/**
 * Evaluates generated images against a reference set: FID (pool features), sFID (spatial features),
 * Inception Score (chunks of 5000, ADM) and improved precision / recall (k = 3) - each when the
 * extractor and the reference provide what it needs. Streams: memory is the float64 statistics plus at
 * most `precisionRecall.maxSamples` pool features per side (a random subsample beyond it; about 400 MB
 * per side at 50k x 2048 float32).
 *
 * @param samples - generated images [n, H, W, 3] in [-1, 1] (an `ImageBatchSource` of @ldmae/core), or a
 *   {@link GenerationSampler} with `opts.numSamples`.
 * @param reference - a {@link FeatureReference} made with the same extractor (e.g. an ADM reference
 *   batch via {@link referenceFromNpz}), or reference images to compute one from.
 */
export function evaluateGeneration(
  samples: ImageBatchSource | GenerationSampler,
  reference: FeatureReference | ImageBatchSource,
  opts: EvaluateGenerationOptions = {},
): Promise<GenerationResult> {
  return runGeneration(samples, reference, opts);
}
