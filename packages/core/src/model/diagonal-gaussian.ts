/**
 * The posterior of every autoencoder: a diagonal Gaussian over latents.
 *
 * Deterministic autoencoders (AE, DAE) return one with zero variance (logvar = -30 after clamping),
 * so the LDM and every evaluation treat all autoencoders alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../rng.js';

/** Bounds of the log-variance, as in the reference (and LDM's DiagonalGaussianDistribution). */
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

/** Which KL divergence: see {@link DiagonalGaussian.kl}. */
export type KlForm = { kind: 'standard' } | { kind: 'unit-variance' } | { kind: 'fixed-std'; std: number };

/** Anything `encode` returns: a distribution over latents of shape [B, h, w, c] (NHWC). */
export interface LatentDistribution {
  readonly mean: tf.Tensor;
  readonly logvar: tf.Tensor;
  /** z = mean + exp(logvar / 2) * eps, eps from `rng`. The caller owns the result. */
  sample(rng: Rng): tf.Tensor;
  /** The mean. The caller owns the result (a copy). */
  mode(): tf.Tensor;
  /** KL per sample, shape [B], summed over latent elements. */
  kl(form?: KlForm): tf.Tensor;
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

  /**
   * KL divergence per sample, summed over all latent elements:
   * - 'standard': KL(N(mu, var) || N(0, 1)) = 0.5 * sum(mu^2 + var - 1 - logvar).
   * - 'unit-variance' (the paper's form): the mean is free, only the variance is pulled to 1:
   *   0.5 * sum(var - 1 - logvar).
   * - 'fixed-std' (the released script, std s): 0.5 * sum(var / s^2 - 1 - logvar + log s^2).
   */
  kl(form: KlForm = { kind: 'standard' }): tf.Tensor {
    return tf.tidy(() => {
      const axes = this.mean.shape.map((_, i) => i).slice(1);
      const v = tf.exp(this.logvar);
      let terms: tf.Tensor;
      if (form.kind === 'standard') terms = tf.sub(tf.add(tf.square(this.mean), v), tf.add(this.logvar, 1));
      else if (form.kind === 'unit-variance') terms = tf.sub(v, tf.add(this.logvar, 1));
      else {
        if (!(form.std > 0)) throw new Error(`DiagonalGaussian.kl: fixed-std needs std > 0, got ${form.std}`);
        const s2 = form.std * form.std;
        terms = tf.add(tf.sub(tf.div(v, s2), tf.add(this.logvar, 1)), Math.log(s2));
      }
      return tf.mul(tf.sum(terms, axes), 0.5);
    });
  }

  dispose(): void {
    this.mean.dispose();
    this.logvar.dispose();
  }
}
