/**
 * The latent smoothness test of the paper (Sec. 5.1, Fig. 6): reconstruction quality when the latent is
 * perturbed, z' = z + eps * std_c * n with z the posterior mean, std_c the per-channel standard deviation
 * of the latents and n ~ N(0, I).
 */
import {
  type Autoencoder,
  atDoor,
  createRng,
  type ImageBatchSource,
  isReiterableImageSource,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { FeatureExtractor } from '../features/types.js';
import {
  decodeClamped,
  type ReconstructionOptions,
  reconstructionData,
  reconstructionSetup,
  withExtractor,
} from './evaluate-reconstruction.js';

import { FrechetAccumulator } from './frechet-samples.js';

import { ProgressReporter } from './progress.js';

import {
  addPool,
  lpipsLabel,
  ReconAccumulator,
  type ReconstructionMetrics,
} from './reconstruction-metrics.js';

import { imageBatches } from './source.js';

/** The paper's perturbation ratios. */
export const SMOOTHNESS_EPS: readonly number[] = [0, 0.01, 0.05, 0.1, 0.2, 0.3];

/** Options of {@link latentSmoothness}. */
export interface LatentSmoothnessOptions extends ReconstructionOptions {
  /** Perturbation ratios. Default {@link SMOOTHNESS_EPS}. */
  eps?: readonly number[];
  /**
   * std_c per latent channel:
   * - 'data' (default): population standard deviation of the posterior means over all images and
   *   positions of `data`, from a first pass (needs a re-iterable source: a tensor, an array or a
   *   function);
   * - 'normalization': 1 / scale of `autoencoder.latentNormalization` (the std of sampled training
   *   latents, what the LDM divides by);
   * - an array of c numbers.
   */
  channelStd?: 'data' | 'normalization' | readonly number[];
  /** Seed of the noise n. Default 0. */
  seed?: number;
}

/** Reconstruction metrics at one perturbation ratio. */
export interface SmoothnessPoint extends ReconstructionMetrics {
  eps: number;
}

/** Result of {@link latentSmoothness}. */
export interface LatentSmoothnessResult {
  /** One entry per eps, in the order given. */
  points: SmoothnessPoint[];
  /** The std_c used. */
  channelStd: number[];
  extractor: string | null;
  lpipsNet: string | null;
}

async function channelStdFromData(
  ae: Autoencoder,
  data: ImageBatchSource,
  batchSize: number,
  total: number | undefined,
  opts: LatentSmoothnessOptions,
): Promise<number[]> {
  const progress = new ProgressReporter('latent-std', total, opts.onProgress);
  let sum: Float64Array | null = null;
  let sq: Float64Array | null = null;
  let count = 0;
  const fn = 'latentSmoothness';
  for await (const x of imageBatches(data, batchSize, fn, 'data')) {
    const dist = ae.encode(x);
    let m: Float32Array;
    let c: number;
    try {
      c = dist.mean.shape[dist.mean.rank - 1];
      m = (await dist.mean.data()) as Float32Array;
    } finally {
      dist.dispose();
    }
    if (!sum || !sq) {
      sum = new Float64Array(c);
      sq = new Float64Array(c);
    } else if (sum.length !== c)
      throw new Error(`${fn}: latent channels changed from ${sum.length} to ${c} between batches`);
    // Centred on the first batch's values would be more robust, but latents are O(1): plain sums suffice in float64.
    for (let i = 0; i < m.length; i++) {
      sum[i % c] += m[i];
      sq[i % c] += m[i] * m[i];
    }
    count += m.length / c;
    progress.add(x.shape[0]);
  }
  if (!sum || !sq || count === 0) throw new RangeError(`${fn}: data held no images`);
  const s = sum;
  const q = sq;
  return Array.from(s, (v, i) => Math.sqrt(Math.max(q[i] / count - (v / count) ** 2, 0)));
}

/** Implementation of {@link latentSmoothness}, with the entry's default extractor. Internal. */
export async function runLatentSmoothness(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: LatentSmoothnessOptions,
  loadDefault?: () => Promise<FeatureExtractor>,
): Promise<LatentSmoothnessResult> {
  const fn = 'latentSmoothness';
  const { lpips, batchSize, ssimBorder } = atDoor(fn, () =>
    reconstructionSetup(autoencoder, opts, loadDefault),
  );
  const total = reconstructionData(fn, data, opts);
  const eps = [...(opts.eps ?? SMOOTHNESS_EPS)];
  if (eps.length === 0 || eps.some((e) => typeof e !== 'number' || !Number.isFinite(e) || e < 0))
    throw new RangeError(
      `${fn}: opts.eps must be a non-empty list of finite numbers >= 0, got ${JSON.stringify(opts.eps)}`,
    );
  const mode = opts.channelStd ?? 'data';
  let given: number[] | null = null;
  if (Array.isArray(mode)) {
    if (mode.some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0))
      throw new RangeError(`${fn}: opts.channelStd must hold finite numbers >= 0`);
    given = [...mode];
  } else if (mode === 'normalization') {
    const norm = autoencoder.latentNormalization;
    if (!norm)
      throw new Error(
        `${fn}: opts.channelStd is 'normalization' but autoencoder '${autoencoder.name}' has no latentNormalization`,
      );
    given = norm.scale.map((s) => 1 / s);
  } else if (mode === 'data') {
    if (!isReiterableImageSource(data))
      throw new Error(
        `${fn}: opts.channelStd 'data' reads data twice; pass a tensor, an array or a function returning a fresh iterable, or give opts.channelStd`,
      );
  } else
    throw new RangeError(
      `${fn}: opts.channelStd must be 'data', 'normalization' or an array, got ${String(mode)}`,
    );
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new RangeError(`${fn}: opts.seed must be a finite number`);

  return withExtractor(opts.extractor, loadDefault, async (extractor) => {
    const std = given ?? (await channelStdFromData(autoencoder, data, batchSize, total, opts));
    const rng = createRng(seed);
    const progress = new ProgressReporter('latent-smoothness', total, opts.onProgress);
    const real = extractor ? new FrechetAccumulator(extractor.dims.pool) : null;
    const accs = eps.map(() => new ReconAccumulator(lpips, extractor, ssimBorder));
    for await (const x of imageBatches(data, batchSize, fn, 'data')) {
      const dist = autoencoder.encode(x);
      let noise: tf.Tensor | null = null;
      try {
        const z = dist.mean as tf.Tensor4D;
        const c = z.shape[3];
        if (c !== std.length)
          throw new Error(`${fn}: the latent has ${c} channels but channelStd has ${std.length} values`);
        // One draw of n per batch, shared by every eps: the curve then varies only with eps.
        noise = tf.tidy(() => tf.mul(rng.normal(z.shape), tf.tensor1d(std)));
        const xData = (await x.data()) as Float32Array;
        for (let k = 0; k < eps.length; k++) {
          const e = eps[k];
          const zp = tf.tidy(() =>
            e === 0 ? z.clone() : tf.add(z, tf.mul(noise as tf.Tensor, e)),
          ) as tf.Tensor4D;
          let y: tf.Tensor4D;
          try {
            y = atDoor(fn, () => decodeClamped(autoencoder, zp, x));
          } finally {
            zp.dispose();
          }
          try {
            await accs[k].add(x, xData, y);
          } finally {
            y.dispose();
          }
        }
      } finally {
        noise?.dispose();
        dist.dispose();
      }
      if (extractor && real) addPool(extractor, real, (await extractor.extract(x)).pool, x.shape[0]);
      progress.add(x.shape[0]);
    }
    if (accs[0].count === 0) throw new RangeError(`${fn}: data held no images`);
    return {
      points: accs.map((a, k) => ({ eps: eps[k], ...a.result(real) })),
      channelStd: std,
      extractor: extractor?.name ?? null,
      lpipsNet: lpipsLabel(lpips),
    };
  });
}

/**
 * For each eps, decodes z + eps * std_c * n (z the posterior mean, n ~ N(0, I) drawn once per batch from
 * `opts.seed` and shared by all eps) and measures rFID, PSNR, SSIM, LPIPS, L1 and MSE against the
 * originals, as {@link evaluateReconstruction} does. All eps run in the same pass, so each batch is
 * encoded (and its originals' features extracted) once.
 *
 * @param autoencoder - any {@link Autoencoder}.
 * @param data - images [n, H, W, 3] in [-1, 1] (see `ImageBatchSource` of @ldmae/core).
 */
export function latentSmoothness(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: LatentSmoothnessOptions = {},
): Promise<LatentSmoothnessResult> {
  return runLatentSmoothness(autoencoder, data, opts);
}
