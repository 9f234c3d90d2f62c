/**
 * The per-channel latent normalisation the LDM trains in, (z - mean_c) / std_c, and the one fitter of
 * its statistics: a streaming float64 accumulator, so any number of latents fits in memory and every
 * caller (a tensor at once, an autoencoder over image batches, a latent cache) gets the same numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { ImageBatch } from '../data-source.js';
import type { Rng } from '../rng.js';
import type { Autoencoder } from './autoencoder.js';

/** Per-channel latent normalisation (z - shift) * scale, as JSON numbers so it serialises. */
export interface LatentNormalization {
  /** Per-channel mean of sampled latents (length c). */
  shift: number[];
  /** Per-channel 1 / std of sampled latents (length c). */
  scale: number[];
}

/** Normalise latents for diffusion: (z - shift) * scale per channel (last axis). */
export function normalizeLatents(z: tf.Tensor, norm: LatentNormalization): tf.Tensor {
  checkNorm(z, norm);
  return tf.tidy(() => tf.mul(tf.sub(z, tf.tensor1d(norm.shift)), tf.tensor1d(norm.scale)));
}

/** Undo {@link normalizeLatents}: z / scale + shift. */
export function denormalizeLatents(z: tf.Tensor, norm: LatentNormalization): tf.Tensor {
  checkNorm(z, norm);
  return tf.tidy(() => tf.add(tf.div(z, tf.tensor1d(norm.scale)), tf.tensor1d(norm.shift)));
}

function checkNorm(z: tf.Tensor, norm: LatentNormalization): void {
  const c = z.shape[z.rank - 1];
  if (norm.shift.length !== c || norm.scale.length !== c) {
    throw new Error(`latent normalisation has ${norm.shift.length} channels, latents have ${c} (last axis)`);
  }
}

/**
 * Per-channel running count, mean and sum of squared deviations in float64 (Chan et al.'s parallel
 * update): feed it latents batch by batch, then read the {@link LatentNormalization}.
 */
export class ChannelMoments {
  readonly channels: number;
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(channels: number) {
    checkNumber(channels, 'ChannelMoments: channels', 'a positive integer');
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

  /**
   * shift = mean_c, scale = 1 / std_c (population std). A channel with zero or NaN variance is an
   * error, unless `minVariance` is given: then the variance is raised to at least that.
   */
  normalization(minVariance?: number): LatentNormalization {
    if (this.n === 0) throw new Error('ChannelMoments.normalization: no values were added');
    const scale = Array.from(this.m2, (v, k) => {
      const variance = minVariance === undefined ? v / this.n : Math.max(v / this.n, minVariance);
      if (!(variance > 0)) throw new Error(`ChannelMoments: latent channel ${k} has zero or NaN variance`);
      return 1 / Math.sqrt(variance);
    });
    return { shift: Array.from(this.mean), scale };
  }
}

/**
 * Per-channel statistics of latents already in memory, `latents` [N, h, w, c] (the reference uses
 * 10,000 sampled training latents): shift = mean_c, scale = 1 / std_c (population std), in float64.
 */
export function computeLatentNormalization(latents: tf.Tensor4D): LatentNormalization {
  const moments = new ChannelMoments(latents.shape[3]);
  moments.add(latents.dataSync());
  return moments.normalization();
}

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

/**
 * Encode batches with `ae`, sample latents, and set `ae.latentNormalization` to their per-channel
 * statistics (shift = mean_c, scale = 1 / std_c), accumulated batch by batch in float64 (any number
 * of latents fits in memory). Works for any {@link Autoencoder}. Returns the normalisation.
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
  checkNumber(max, 'fitLatentNormalization: maxLatents', 'a positive integer');
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
