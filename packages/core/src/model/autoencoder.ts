/**
 * The `Autoencoder` contract: VMAE, AE, DAE, VAE, SD-VAE and user models all implement it, and the
 * LDM trainer, the samplers and every evaluation take any `Autoencoder`.
 *
 * Layout: images are NHWC float32 in [-1, 1]; latents are NHWC [B, h, w, c].
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LatentDistribution } from './diagonal-gaussian.js';

/** Per-channel latent normalisation (z - shift) * scale, as JSON numbers so it serialises. */
export interface LatentNormalization {
  /** Per-channel mean of sampled latents (length c). */
  shift: number[];
  /** Per-channel 1 / std of sampled latents (length c). */
  scale: number[];
}

/** What every autoencoder offers. */
export interface Autoencoder {
  /** A short name that reports and checkpoints use ('vmae', 'sd-vae', ...). */
  readonly name: string;
  /** Posterior over latents of images x: [B, H, W, 3] in [-1, 1]. */
  encode(x: tf.Tensor4D): LatentDistribution;
  /** Images [B, H, W, 3] (roughly [-1, 1]) from latents [B, h, w, c]; the caller owns the result. */
  decode(z: tf.Tensor4D): tf.Tensor4D;
  /** Latent shape [h, w, c] for an image shape [H, W, C]. */
  latentShape(imageShape: [number, number, number]): [number, number, number];
  /** The latent normalisation used by the LDM, or null when not computed yet. */
  latentNormalization: LatentNormalization | null;
  dispose(): void;
}

/** Normalise latents for diffusion: (z - shift) * scale per channel (last axis). */
export function normalizeLatents(z: tf.Tensor, norm: LatentNormalization): tf.Tensor {
  checkNorm(z, norm, 'normalizeLatents');
  return tf.tidy(() => tf.mul(tf.sub(z, tf.tensor1d(norm.shift)), tf.tensor1d(norm.scale)));
}

/** Undo {@link normalizeLatents}: z / scale + shift. */
export function denormalizeLatents(z: tf.Tensor, norm: LatentNormalization): tf.Tensor {
  checkNorm(z, norm, 'denormalizeLatents');
  return tf.tidy(() => tf.add(tf.div(z, tf.tensor1d(norm.scale)), tf.tensor1d(norm.shift)));
}

function checkNorm(z: tf.Tensor, norm: LatentNormalization, where: string): void {
  const c = z.shape[z.rank - 1];
  if (norm.shift.length !== c || norm.scale.length !== c) {
    throw new Error(
      `${where}: normalisation has ${norm.shift.length} channels, latents have ${c} (last axis)`,
    );
  }
}

/**
 * Per-channel statistics of sampled latents (the reference uses 10,000 training latents).
 * `latents` is [N, h, w, c]; returns shift = mean_c and scale = 1 / std_c (population std).
 */
export function computeLatentNormalization(latents: tf.Tensor4D): LatentNormalization {
  const { mean, variance } = tf.tidy(() => tf.moments(latents, [0, 1, 2]));
  const m = Array.from(mean.dataSync());
  const v = Array.from(variance.dataSync());
  tf.dispose([mean, variance]);
  if (v.some((x) => !(x > 0)))
    throw new Error('computeLatentNormalization: a latent channel has zero or NaN variance');
  return { shift: m, scale: v.map((x) => 1 / Math.sqrt(x)) };
}
