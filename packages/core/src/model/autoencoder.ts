/**
 * The `Autoencoder` contract: VMAE, AE, DAE, VAE, SD-VAE and user models all implement it, and the
 * LDM trainer, the samplers and every evaluation take any `Autoencoder`.
 *
 * Layout: images are NHWC float32 in [-1, 1]; latents are NHWC [B, h, w, c].
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { LatentDistribution } from './diagonal-gaussian.js';
import type { LatentNormalization } from './latent-norm.js';

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

/**
 * decode(encode(x).mode()): the deterministic reconstruction [B, H, W, 3] every evaluation uses (the
 * reference takes `posterior.mode()` too). The posterior is released; the caller owns the result.
 */
export function reconstruct(ae: Autoencoder, x: tf.Tensor4D): tf.Tensor4D {
  const post = ae.encode(x);
  try {
    // The mean itself rather than mode()'s copy: decode only reads it.
    return ae.decode(post.mean as tf.Tensor4D);
  } finally {
    post.dispose();
  }
}
