/**
 * KL regularisation of a diagonal-Gaussian posterior, in the three forms the VMAE work uses and with
 * the reference's reduction (visible tokens only, per token) or LDM's (per sample). The one KL of the
 * library: every posterior (core's `DiagonalGaussian`) and every objective goes through `klLoss`.
 */
import type { LatentDistribution } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Which KL divergence, per latent element (var = exp(logvar)):
 * - 'standard': KL(N(mu, var) || N(0, 1)) = 0.5 * (mu^2 + var - 1 - logvar) (LDM / SD-VAE).
 * - 'unit-variance': the paper's "learnable mean, unit variance": 0.5 * (var - 1 - logvar); the mean
 *   is free. This is what the reference computes when no fixed std is given.
 * - `{ fixedStd: s }`: the released training script (s = 1e-3): the target variance is s^2,
 *   0.5 * (var / s^2 - 1 - logvar + log s^2); the mean is free.
 */
export type KlLossForm = 'standard' | 'unit-variance' | { fixedStd: number };

/**
 * How the per-element KL is reduced to a number:
 * - 'per-token' (the reference): the sum over channels and over the counted tokens, divided by the
 *   number of counted tokens in the whole batch (= batch size x visible tokens per sample, as the
 *   reference's `sum(kl) / B / N`).
 * - 'per-sample': the sum over every counted element, divided by the batch size (LDM's
 *   `sum(kl) / kl.shape[0]`).
 * - 'none': the per-sample sums, shape [B].
 */
export type KlReduction = 'per-token' | 'per-sample' | 'none';

/** Options of {@link klLoss}. */
export interface KlLossOptions {
  /** Default 'unit-variance' (the paper's form); the released script's form is `{ fixedStd: 1e-3 }`. */
  form?: KlLossForm;
  /** Default 'per-token'. */
  reduction?: KlReduction;
  /**
   * Token mask, 1 = masked (left out of the KL), 0 = visible (counted), as MAE's mask: [B, L] or the
   * latent grid [B, h, w] for a posterior of shape [B, L, C] or [B, h, w, C]. The reference's encoder
   * only sees visible tokens, so its KL covers exactly the visible ones. Default: every token counts.
   */
  mask?: tf.Tensor;
}

function klTerms(mean: tf.Tensor, logvar: tf.Tensor, form: KlLossForm): tf.Tensor {
  const v = tf.exp(logvar);
  if (form === 'standard') return tf.sub(tf.add(tf.square(mean), v), tf.add(logvar, 1));
  if (form === 'unit-variance') return tf.sub(v, tf.add(logvar, 1));
  const s2 = form.fixedStd * form.fixedStd;
  return tf.add(tf.sub(tf.div(v, s2), tf.add(logvar, 1)), Math.log(s2));
}

function checkForm(form: unknown): asserts form is KlLossForm {
  if (form === 'standard' || form === 'unit-variance') return;
  const s = (form as { fixedStd?: unknown } | null)?.fixedStd;
  if (typeof form === 'object' && form !== null && typeof s === 'number' && Number.isFinite(s) && s > 0)
    return;
  throw new Error(
    `klLoss: form must be 'standard', 'unit-variance' or { fixedStd: s } with s > 0, got ${JSON.stringify(form)}`,
  );
}

/**
 * KL loss of a posterior whose last axis is the latent channels.
 *
 * @param posterior a {@link LatentDistribution} (e.g. core's `DiagonalGaussian`) with `mean` and
 *   `logvar` of shape [B, L, C] (tokens) or [B, h, w, C] (latent grid, NHWC); logvar is used as given
 *   (DiagonalGaussian already clamps it to [-30, 20]).
 * @returns a scalar for 'per-token' / 'per-sample', a [B] tensor for 'none' (LDM's per-sample
 *   `posterior.kl()`, with `form: 'standard'`); the caller owns it.
 */
export function klLoss(posterior: LatentDistribution, opts: KlLossOptions = {}): tf.Tensor {
  const { mean, logvar } = posterior ?? {};
  if (!(mean instanceof tf.Tensor) || !(logvar instanceof tf.Tensor)) {
    throw new TypeError('klLoss: posterior must have tensors `mean` and `logvar` (a DiagonalGaussian)');
  }
  if (mean.rank < 3 || !tf.util.arraysEqual(mean.shape, logvar.shape)) {
    throw new Error(
      `klLoss: posterior mean and logvar must share a shape [B, L, C] or [B, h, w, C], got [${mean.shape}] and [${logvar.shape}]`,
    );
  }
  const form = opts.form ?? 'unit-variance';
  checkForm(form);
  const reduction = opts.reduction ?? 'per-token';
  if (reduction !== 'per-token' && reduction !== 'per-sample' && reduction !== 'none') {
    throw new Error(
      `klLoss: reduction must be 'per-token', 'per-sample' or 'none', got '${String(reduction)}'`,
    );
  }
  const b = mean.shape[0];
  const c = mean.shape[mean.rank - 1];
  const tokens = mean.size / (b * c);
  const mask = opts.mask;
  if (mask) {
    const grid = mean.shape.slice(0, -1);
    if (!(tf.util.arraysEqual(mask.shape, grid) || tf.util.arraysEqual(mask.shape, [b, tokens]))) {
      throw new Error(
        `klLoss: mask must be [${grid}] or [${b}, ${tokens}] (1 = masked), got [${mask.shape}]`,
      );
    }
  }
  return tf.tidy(() => {
    const terms = klTerms(mean, logvar, form);
    if (!mask && reduction !== 'per-token') {
      // [B]: one sum over every latent element of a sample, as LDM's DiagonalGaussianDistribution.kl.
      const perSample = tf.mul(tf.sum(terms, mean.shape.map((_, i) => i).slice(1)), 0.5);
      return reduction === 'none' ? perSample : tf.div(tf.sum(perSample), b);
    }
    // [B, tokens]: each token's KL summed over its channels.
    const perToken = tf.mul(tf.sum(tf.reshape(terms, [b, tokens, c]), -1), 0.5);
    const counted = mask ? tf.sub(1, tf.reshape(tf.cast(mask, 'float32'), [b, tokens])) : null;
    const kept = counted ? tf.mul(perToken, counted) : perToken;
    if (reduction === 'none') return tf.sum(kept, -1);
    if (reduction === 'per-sample') return tf.div(tf.sum(kept), b);
    const count = counted ? tf.maximum(tf.sum(counted), 1) : tf.scalar(b * tokens);
    return tf.div(tf.sum(kept), count);
  });
}
