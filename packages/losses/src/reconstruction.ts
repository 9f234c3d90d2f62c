/**
 * Pixel reconstruction losses: the VMAE's masked / visible patch MSE (L_M, L_R) and plain full-image
 * MSE and L1.
 */
import * as tf from '@tensorflow/tfjs-core';

/** How a full-image loss is reduced. */
export type PixelReduction = 'mean' | 'sum' | 'per-sample';

/** Options of {@link maskedPatchLoss}. */
export interface MaskedPatchLossOptions {
  /**
   * Weight v of the visible-patch term in `total = (1 - v) * masked + v * visible`. Default 0.75, the
   * VMAE recipe's value (the reference function's own default argument is 0.5, but the released
   * training script passes 0.75).
   */
  visibleWeight?: number;
  /**
   * Normalise each target patch to zero mean and unit variance first, as MAE's `norm_pix_loss`
   * ((t - mean) / sqrt(var + 1e-6) with torch's unbiased variance). Default false, as the VMAE runs.
   */
  normPixLoss?: boolean;
}

/** What {@link maskedPatchLoss} returns; the caller owns the three scalars. */
export interface MaskedPatchLossResult {
  /** L_M: the per-patch MSE averaged over every masked patch of the batch. */
  masked: tf.Scalar;
  /** L_R: the per-patch MSE averaged over every visible patch of the batch. */
  visible: tf.Scalar;
  /** (1 - visibleWeight) * masked + visibleWeight * visible. */
  total: tf.Scalar;
}

/**
 * The VMAE reconstruction loss, as the reference `forward_loss` computes it: the squared error is
 * averaged over the D values of each patch, giving a [B, L] loss per patch; L_M is then
 * sum(loss * mask) / sum(mask) and L_R is sum(loss * (1 - mask)) / sum(1 - mask), both over the whole
 * batch at once (not per sample first). A set with no patch (e.g. no masking) gives 0 instead of the
 * reference's 0/0 = NaN, with a finite (zero) gradient.
 *
 * @param pred predicted patches [B, L, D] (D = p * p * 3 for image patches).
 * @param target target patches [B, L, D] in the same patch order as `pred`.
 * @param mask [B, L], 1 = masked (removed from the encoder's input), 0 = visible, as MAE's mask.
 */
export function maskedPatchLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  mask: tf.Tensor,
  opts: MaskedPatchLossOptions = {},
): MaskedPatchLossResult {
  if (pred.rank !== 3)
    throw new Error(`maskedPatchLoss: pred must be [B, L, D] patches, got [${pred.shape}]`);
  if (!tf.util.arraysEqual(target.shape, pred.shape)) {
    throw new Error(`maskedPatchLoss: target must have pred's shape [${pred.shape}], got [${target.shape}]`);
  }
  const [b, l, d] = pred.shape as number[];
  if (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== l) {
    throw new Error(`maskedPatchLoss: mask must be [B, L] = [${b}, ${l}] (1 = masked), got [${mask.shape}]`);
  }
  const v = opts.visibleWeight ?? 0.75;
  if (!(Number.isFinite(v) && v >= 0 && v <= 1)) {
    throw new RangeError(`maskedPatchLoss: visibleWeight must be in [0, 1], got ${v}`);
  }
  if (opts.normPixLoss && d < 2) {
    throw new Error(`maskedPatchLoss: normPixLoss needs at least 2 values per patch, got D = ${d}`);
  }
  const [masked, visible, total] = tf.tidy(() => {
    let t = target;
    if (opts.normPixLoss) {
      const mean = tf.mean(t, -1, true);
      const centred = tf.sub(t, mean);
      // torch's Tensor.var is unbiased (divides by D - 1).
      const variance = tf.div(tf.sum(tf.square(centred), -1, true), d - 1);
      t = tf.div(centred, tf.sqrt(tf.add(variance, 1e-6)));
    }
    const perPatch = tf.mean(tf.square(tf.sub(pred, t)), -1);
    const m = tf.cast(mask, 'float32');
    const vis = tf.sub(1, m);
    const masked = averageOver(perPatch, m);
    const visible = averageOver(perPatch, vis);
    const total = tf.add(tf.mul(masked, 1 - v), tf.mul(visible, v)) as tf.Scalar;
    return [masked, visible, total];
  });
  return { masked, visible, total };
}

// sum(loss * w) / max(sum(w), 1): an empty set gives 0 and a zero (not NaN) gradient.
function averageOver(loss: tf.Tensor, w: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(loss, w)), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
}

function checkPair(name: string, x: tf.Tensor, y: tf.Tensor, reduction: PixelReduction): void {
  if (!tf.util.arraysEqual(x.shape, y.shape)) {
    throw new Error(`${name}: x [${x.shape}] and y [${y.shape}] must have the same shape`);
  }
  if (reduction === 'per-sample' && x.rank < 1) {
    throw new Error(`${name}: reduction 'per-sample' needs a batch axis, got a scalar`);
  }
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'per-sample') {
    throw new Error(`${name}: reduction must be 'mean', 'sum' or 'per-sample', got '${String(reduction)}'`);
  }
}

function reduce(e: tf.Tensor, reduction: PixelReduction): tf.Tensor {
  if (reduction === 'sum') return tf.sum(e);
  if (reduction === 'per-sample') {
    return e.rank === 1 ? e : tf.mean(e, e.shape.map((_, i) => i).slice(1));
  }
  return tf.mean(e);
}

/**
 * Mean squared error (x - y)^2.
 * @param x any shape, e.g. images [B, H, W, C].
 * @param y x's shape.
 * @param reduction 'mean' (default, a scalar over every element), 'sum' (a scalar) or 'per-sample'
 *   ([B]: the mean over all axes but the first).
 */
export function mseLoss(x: tf.Tensor, y: tf.Tensor, reduction: PixelReduction = 'mean'): tf.Tensor {
  checkPair('mseLoss', x, y, reduction);
  return tf.tidy(() => reduce(tf.square(tf.sub(x, y)), reduction));
}

/**
 * Mean absolute error |x - y| (taming / LDM's pixel `rec_loss`).
 * @param x any shape, e.g. images [B, H, W, C].
 * @param y x's shape.
 * @param reduction as {@link mseLoss}.
 */
export function l1Loss(x: tf.Tensor, y: tf.Tensor, reduction: PixelReduction = 'mean'): tf.Tensor {
  checkPair('l1Loss', x, y, reduction);
  return tf.tidy(() => reduce(tf.abs(tf.sub(x, y)), reduction));
}
