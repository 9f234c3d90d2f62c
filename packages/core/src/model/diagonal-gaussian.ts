/**
 * The posterior of every autoencoder: a diagonal Gaussian over latents.
 *
 * Deterministic autoencoders (AE, DAE) return one with zero variance (logvar = -30 after clamping),
 * so the LDM and every evaluation treat all autoencoders alike. Its KL divergence is a loss and lives
 * in @ldmae/losses (`klLoss`), above this package.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../rng.js';

/** Bounds of the log-variance, as in the reference (and LDM's DiagonalGaussianDistribution). */
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

/** Anything `encode` returns: a distribution over latents of shape [B, h, w, c] (NHWC). */
export interface LatentDistribution {
  readonly mean: tf.Tensor;
  readonly logvar: tf.Tensor;
  /** z = mean + exp(logvar / 2) * eps, eps from `rng`. The caller owns the result. */
  sample(rng: Rng): tf.Tensor;
  /** The mean. The caller owns the result (a copy). */
  mode(): tf.Tensor;
  dispose(): void;
}

/** A diagonal Gaussian with clamped log-variance. Owns `mean` and `logvar`. */
export class DiagonalGaussian implements LatentDistribution {
  readonly mean: tf.Tensor;
  readonly logvar: tf.Tensor;

  /** Takes ownership of both tensors; `logvar` is clamped to [-30, 20]. */
  constructor(mean: tf.Tensor, logvar: tf.Tensor) {
    if (!tf.util.arraysEqual(mean.shape, logvar.shape)) {
      throw new Error(
        `DiagonalGaussian: mean [${mean.shape}] and logvar [${logvar.shape}] must have the same shape`,
      );
    }
    this.mean = mean;
    this.logvar = tf.clipByValue(logvar, LOGVAR_MIN, LOGVAR_MAX);
    logvar.dispose();
  }

  /** From a tensor whose last axis holds [mean; logvar] (the reference's `to_latent` output). */
  static fromMoments(moments: tf.Tensor): DiagonalGaussian {
    const c = moments.shape[moments.rank - 1];
    if (c % 2 !== 0) throw new Error(`DiagonalGaussian.fromMoments: last axis must be even, got ${c}`);
    const [m, lv] = tf.split(moments, 2, -1);
    return new DiagonalGaussian(m, lv);
  }

  /** A zero-variance distribution (for deterministic autoencoders). Takes ownership of `mean`. */
  static deterministic(mean: tf.Tensor): DiagonalGaussian {
    return new DiagonalGaussian(mean, tf.fill(mean.shape, LOGVAR_MIN));
  }

  get std(): tf.Tensor {
    return tf.tidy(() => tf.exp(tf.mul(this.logvar, 0.5)));
  }

  sample(rng: Rng): tf.Tensor {
    const eps = rng.normal(this.mean.shape);
    const z = tf.tidy(() => tf.add(this.mean, tf.mul(tf.exp(tf.mul(this.logvar, 0.5)), eps)));
    eps.dispose();
    return z;
  }

  mode(): tf.Tensor {
    return this.mean.clone();
  }

  dispose(): void {
    this.mean.dispose();
    this.logvar.dispose();
  }
}
