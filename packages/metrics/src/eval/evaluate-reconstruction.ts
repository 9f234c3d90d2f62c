/** Reconstruction quality of an autoencoder: rFID, PSNR, SSIM, LPIPS, L1, MSE (paper Tab. 1). */
import {
  type Autoencoder,
  atDoor,
  checkImageBatchSource,
  createRng,
  type ImageBatchSource,
  imageSourceCount,
  type Progress,
  type ProgressCallback,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { assertExtractor, type FeatureExtractor } from '../features/types.js';

import { checkPositiveInt } from '../stats/checks.js';
import { FrechetAccumulator } from './frechet-samples.js';

import { ProgressReporter } from './progress.js';

import {
  addPool,
  checkLpips,
  type LpipsLike,
  lpipsLabel,
  ReconAccumulator,
  type ReconstructionMetrics,
} from './reconstruction-metrics.js';

import { imageBatches } from './source.js';

/** Options shared by {@link evaluateReconstruction} and {@link latentSmoothness}. */
export interface ReconstructionOptions {
  /**
   * Feature network of rFID; null skips rFID. Required in the browser entry; in Node, leaving it out
   * loads the offline nsfwjs extractor for the call (its scores are named for it).
   */
  extractor?: FeatureExtractor | null;
  /** LPIPS network (an `Lpips` from @ldmae/losses); default none (lpips: null). */
  lpips?: LpipsLike | null;
  /** Images per autoencoder call. Default 16. */
  batchSize?: number;
  /** SSIM border convention (see {@link ssim}). Default 'reflect' (current torchmetrics). */
  ssimBorder?: 'reflect' | 'valid';
  onProgress?: ProgressCallback<Progress>;
}

/** Options of {@link evaluateReconstruction}. */
export interface EvaluateReconstructionOptions extends ReconstructionOptions {
  /** Which latent is decoded: the posterior mean (default) or a sample drawn with `seed`. */
  latent?: 'mean' | 'sample';
  /** Seed of the posterior samples. Default 0. */
  seed?: number;
}

/** {@link ReconstructionMetrics} with the networks that produced them. */
export interface ReconstructionResult extends ReconstructionMetrics {
  /** Name of the feature extractor of rFID, or null. */
  extractor: string | null;
  /** The LPIPS network, e.g. 'lpips[torchvision-vgg16, lin learned-v0.1]', or null. */
  lpipsNet: string | null;
}

/** Throws unless `ae` looks like an {@link Autoencoder}. Internal. */
export function checkAutoencoder(ae: unknown): Autoencoder {
  const a = ae as Autoencoder;
  if (a === null || typeof a !== 'object' || typeof a.encode !== 'function' || typeof a.decode !== 'function')
    throw new TypeError('autoencoder must be an Autoencoder {encode, decode, latentShape, ...}');
  return a;
}

/** Decodes z, checks the result against the input's shape and clamps it to [-1, 1]. Internal. */
export function decodeClamped(ae: Autoencoder, z: tf.Tensor4D, like: tf.Tensor4D): tf.Tensor4D {
  const y = ae.decode(z);
  if (!(y instanceof tf.Tensor) || !tf.util.arraysEqual(y.shape, like.shape)) {
    const got = y instanceof tf.Tensor ? `[${y.shape}]` : typeof y;
    if (y instanceof tf.Tensor) y.dispose();
    throw new Error(`autoencoder '${ae.name}' decoded to ${got}, expected the input's shape [${like.shape}]`);
  }
  // The reference clamps reconstructions to [-1, 1] before saving them as images.
  const c = tf.clipByValue(y, -1, 1) as tf.Tensor4D;
  y.dispose();
  return c;
}

/** Resolved common options (run it with atDoor). Internal. */
export function reconstructionSetup(ae: unknown, opts: ReconstructionOptions, loadDefault: unknown) {
  checkAutoencoder(ae);
  if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
  const batchSize = checkPositiveInt('opts.batchSize', opts.batchSize ?? 16);
  if (opts.extractor !== undefined && opts.extractor !== null)
    assertExtractor('opts.extractor', opts.extractor);
  const lpips = checkLpips(opts.lpips);
  const ssimBorder = opts.ssimBorder ?? 'reflect';
  if (ssimBorder !== 'reflect' && ssimBorder !== 'valid')
    throw new RangeError(`opts.ssimBorder must be 'reflect' or 'valid', got ${String(ssimBorder)}`);
  checkExtractor(opts.extractor, loadDefault);
  return { lpips, batchSize, ssimBorder };
}

/** Core's check of the images of a reconstruction metric, and their count when known. Internal. */
export function reconstructionData(door: string, data: unknown, opts: ReconstructionOptions) {
  checkImageBatchSource(data, { caller: door, argument: 'data', batchSize: opts.batchSize ?? 16 });
  const total = imageSourceCount(data);
  if (opts.extractor && total !== undefined && total < 2)
    throw new RangeError(`${door}: rFID needs at least 2 images, data holds ${total}`);
  return total;
}

/**
 * Runs `body` with the extractor of the options, loading (and afterwards disposing) the default one when
 * it was left out (the public function has checked with {@link checkExtractor} that it can). Internal.
 */
export async function withExtractor<T>(
  given: FeatureExtractor | null | undefined,
  loadDefault: (() => Promise<FeatureExtractor>) | undefined,
  body: (e: FeatureExtractor | null) => Promise<T>,
): Promise<T> {
  if (given !== undefined) return body(given);
  const e = await (loadDefault as () => Promise<FeatureExtractor>)();
  try {
    return await body(e);
  } finally {
    e.dispose();
  }
}

/** Throws unless an extractor is given or can be loaded (the public function checks it). Internal. */
export function checkExtractor(given: FeatureExtractor | null | undefined, loadDefault: unknown): void {
  if (given === undefined && !loadDefault)
    throw new Error(
      'opts.extractor is required here (a FeatureExtractor, or null to skip the feature metrics); the Node entry defaults to the offline nsfwjs extractor',
    );
}

/** Implementation of {@link evaluateReconstruction}, with the entry's default extractor. Internal. */
export async function runReconstruction(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: EvaluateReconstructionOptions,
  loadDefault?: () => Promise<FeatureExtractor>,
): Promise<ReconstructionResult> {
  const fn = 'evaluateReconstruction';
  const { lpips, batchSize, ssimBorder, latent } = atDoor(fn, () => {
    const o = reconstructionSetup(autoencoder, opts, loadDefault);
    const latent = opts.latent ?? 'mean';
    if (latent !== 'mean' && latent !== 'sample')
      throw new RangeError(`opts.latent must be 'mean' or 'sample', got ${String(latent)}`);
    return { ...o, latent };
  });
  const total = reconstructionData(fn, data, opts);
  const rng = createRng(opts.seed ?? 0);
  return withExtractor(opts.extractor, loadDefault, async (extractor) => {
    const progress = new ProgressReporter('reconstruction', total, opts.onProgress);
    const real = extractor ? new FrechetAccumulator(extractor.dims.pool) : null;
    const acc = new ReconAccumulator(lpips, extractor, ssimBorder);
    for await (const x of imageBatches(data, batchSize, fn, 'data')) {
      const dist = autoencoder.encode(x);
      let y: tf.Tensor4D;
      try {
        const z = (latent === 'mean' ? dist.mean : dist.sample(rng)) as tf.Tensor4D;
        try {
          y = atDoor(fn, () => decodeClamped(autoencoder, z, x));
        } finally {
          if (latent === 'sample') z.dispose();
        }
      } finally {
        dist.dispose();
      }
      try {
        const xData = (await x.data()) as Float32Array;
        await acc.add(x, xData, y);
        if (extractor && real) addPool(extractor, real, (await extractor.extract(x)).pool, x.shape[0]);
      } finally {
        y.dispose();
      }
      progress.add(x.shape[0]);
    }
    if (acc.count === 0) throw new RangeError(`${fn}: data held no images`);
    return { ...acc.result(real), extractor: extractor?.name ?? null, lpipsNet: lpipsLabel(lpips) };
  });
}

/**
 * Encodes and decodes every image of `data` and measures the reconstructions against the originals:
 * rFID (on `opts.extractor`), PSNR, SSIM, LPIPS (with `opts.lpips`), L1 and MSE, streamed batch by batch
 * (memory: two dim x dim float64 statistics for rFID, nothing per image). The latent is the posterior
 * mean unless `opts.latent` is 'sample'; reconstructions are clamped to [-1, 1] first, as the reference
 * saves them. See {@link ReconstructionMetrics} for each metric's exact definition.
 *
 * @param autoencoder - any {@link Autoencoder}.
 * @param data - images [n, H, W, 3] in [-1, 1] (see `ImageBatchSource` of @ldmae/core).
 * @returns the metrics, the extractor's name and the LPIPS network's label.
 */
export function evaluateReconstruction(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: EvaluateReconstructionOptions = {},
): Promise<ReconstructionResult> {
  return runReconstruction(autoencoder, data, opts);
}
