/**
 * The per-channel latent normalisation the LDM uses, (z - mean_c) / std_c, with statistics of sampled
 * latents (the reference uses 10,000 training latents), accumulated batch by batch in float64 so any
 * number of latents fits in memory.
 */
import type { Autoencoder, ImageBatch, LatentNormalization, Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** A batch of images: a tensor [B, H, W, 3] or a loader batch `{ images }` (core's `ImageBatch`). */
export type { ImageBatch } from '@ldmae/core';

/** Options of {@link fitLatentNormalization}. */
export interface FitLatentNormalizationOptions {
  /** Draws the posterior samples z = mean + std * eps. */
  rng: Rng;
  /** Stop after this many latents (images); default 10,000 as the reference. */
  maxLatents?: number;
  /** Use the posterior mean instead of samples. Default false (samples, as the reference). */
  useMode?: boolean;
  /** Dispose each batch after use (default true: the batches are consumed). */
  disposeBatches?: boolean;
}

/** Per-channel running count, mean and sum of squared deviations (Chan et al.'s parallel update). */
export class ChannelMoments {
  readonly channels: number;
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(channels: number) {
    if (!Number.isInteger(channels) || channels < 1)
      throw new RangeError(`ChannelMoments: channels must be a positive integer, got ${channels}`);
    this.channels = channels;
    this.mean = new Float64Array(channels);
    this.m2 = new Float64Array(channels);
  }

  /** Values in channel-last order (element i belongs to channel i % channels). */
  add(values: ArrayLike<number>): void {
    const c = this.channels;
    if (values.length % c !== 0)
      throw new Error(`ChannelMoments.add: ${values.length} values are not a multiple of ${c}`);
    const m = values.length / c;
    if (m === 0) return;
    const bMean = new Float64Array(c);
    for (let i = 0; i < values.length; i++) bMean[i % c] += values[i];
    for (let k = 0; k < c; k++) bMean[k] /= m;
    const bM2 = new Float64Array(c);
    for (let i = 0; i < values.length; i++) {
      const dlt = values[i] - bMean[i % c];
      bM2[i % c] += dlt * dlt;
    }
    const n = this.n;
    const tot = n + m;
    for (let k = 0; k < c; k++) {
      const delta = bMean[k] - this.mean[k];
      this.mean[k] += (delta * m) / tot;
      this.m2[k] += bM2[k] + (delta * delta * n * m) / tot;
    }
    this.n = tot;
  }

  /** Values seen per channel. */
  get count(): number {
    return this.n;
  }

  /** shift = mean_c, scale = 1 / std_c (population std), as core's computeLatentNormalization. */
  normalization(): LatentNormalization {
    if (this.n === 0) throw new Error('ChannelMoments.normalization: no values were added');
    const scale = Array.from(this.m2, (v) => {
      const variance = v / this.n;
      if (!(variance > 0))
        throw new Error('fitLatentNormalization: a latent channel has zero or NaN variance');
      return 1 / Math.sqrt(variance);
    });
    return { shift: Array.from(this.mean), scale };
  }
}

/**
 * Encode batches with `ae`, sample latents, and set `ae.latentNormalization` to their per-channel
 * statistics (shift = mean_c, scale = 1 / std_c). Returns the normalisation.
 * @param batches images [B, H, W, 3] in [-1, 1] (tensors or `{ images }`), sync or async iterable.
 */
export async function fitLatentNormalization(
  ae: Autoencoder,
  batches: Iterable<ImageBatch> | AsyncIterable<ImageBatch>,
  opts: FitLatentNormalizationOptions,
): Promise<LatentNormalization> {
  if (!ae || typeof ae.encode !== 'function')
    throw new TypeError('fitLatentNormalization: ae must be an Autoencoder');
  if (!opts?.rng && !opts?.useMode)
    throw new Error('fitLatentNormalization: opts.rng is required to sample latents');
  const max = opts.maxLatents ?? 10_000;
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`fitLatentNormalization: maxLatents must be a positive integer, got ${max}`);
  let moments: ChannelMoments | null = null;
  let seen = 0;
  for await (const batch of batches as AsyncIterable<ImageBatch>) {
    const images = batch instanceof tf.Tensor ? batch : batch?.images;
    if (!(images instanceof tf.Tensor)) {
      throw new TypeError('fitLatentNormalization: each batch must be an image tensor or { images }');
    }
    try {
      const take = Math.min(images.shape[0], max - seen);
      const x = take < images.shape[0] ? tf.slice(images, 0, take) : images;
      const post = ae.encode(x as tf.Tensor4D);
      if (x !== images) x.dispose();
      const z = opts.useMode ? post.mode() : post.sample(opts.rng);
      post.dispose();
      const c = z.shape[z.rank - 1];
      moments ??= new ChannelMoments(c);
      moments.add(await z.data());
      z.dispose();
      seen += take;
    } finally {
      if (opts.disposeBatches ?? true) tf.dispose(batch as tf.TensorContainer);
    }
    if (seen >= max) break;
  }
  if (!moments) throw new Error('fitLatentNormalization: batches yielded no images');
  const norm = moments.normalization();
  ae.latentNormalization = norm;
  return norm;
}
