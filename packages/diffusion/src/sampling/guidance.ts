/**
 * Classifier-free guidance (Ho & Salimans): pred = uncond + scale * (cond - uncond), the unconditional
 * prediction being the model's output for the null class. Options reproduce LightningDiT's sampler:
 * a guidance interval (its `cfg_interval_start`) and, as an explicit opt-in, its quirk of guiding only
 * the first 3 output channels.
 */
import { atDoor } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkLatentInput, type Denoiser } from '../denoiser.js';

/** Options of classifier-free guidance. */
export interface GuidanceOptions {
  /** Guidance scale; 1 is plain conditional sampling (one denoiser call per step). */
  scale: number;
  /**
   * Model-time interval [lo, hi] (inclusive) where guidance is applied; outside it the conditional
   * prediction is used. Default: everywhere. The paper's ImageNet sampler uses [0.1, 1] in flow time,
   * i.e. no guidance at the noisy end t < 0.1 (`cfg_interval_start: 0.10`).
   */
  interval?: [number, number];
  /**
   * Guide only the first `channels` channels and take the conditional prediction for the others.
   * Default: all channels. `channels: 3` reproduces the reference's forward_with_cfg (DiT's
   * "first three channels" line, kept by LightningDiT); off unless asked for.
   */
  channels?: number;
}

/** Validate guidance options against a denoiser; returns them complete (name the caller with `atDoor`). */
export function checkGuidance(g: GuidanceOptions, d: Denoiser): Required<GuidanceOptions> {
  if (!g || typeof g !== 'object') throw new TypeError(`guidance must be {scale, interval?, channels?}`);
  if (!Number.isFinite(g.scale))
    throw new RangeError(`guidance.scale must be a finite number, got ${g.scale}`);
  const interval = g.interval ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  if (!Array.isArray(interval) || interval.length !== 2 || !(interval[0] <= interval[1])) {
    throw new RangeError(
      `guidance.interval must be [lo, hi] with lo <= hi, got ${JSON.stringify(g.interval)}`,
    );
  }
  const channels = g.channels ?? d.inChannels;
  if (!Number.isInteger(channels) || channels < 1 || channels > d.inChannels) {
    throw new RangeError(`guidance.channels must be an integer in [1, ${d.inChannels}], got ${g.channels}`);
  }
  if (g.scale !== 1 && d.nullClass === null) {
    throw new Error(`guidance needs a denoiser with a null class (trained with label dropout > 0)`);
  }
  return { scale: g.scale, interval: [interval[0], interval[1]], channels };
}

/**
 * The (guided) prediction for a batch at one time.
 * @param x [B, h, w, c] current samples.
 * @param t the model time of the whole batch.
 * @param y [B] class labels (int32 tensor or numbers).
 * @param guidance null for plain conditional prediction.
 * @returns [B, h, w, c]; the caller owns it. Inside the interval with scale != 1 the denoiser runs once
 *   on a doubled batch [x; x] with labels [y; null], as the reference does.
 */
export function guidedPrediction(
  denoiser: Denoiser,
  x: tf.Tensor,
  t: number,
  y: tf.Tensor | ArrayLike<number> | null,
  guidance: GuidanceOptions | null,
): tf.Tensor4D {
  const g = atDoor('guidedPrediction', () => {
    checkLatentInput(x, denoiser);
    if (!Number.isFinite(t)) throw new RangeError(`t must be a finite number, got ${t}`);
    return guidance ? checkGuidance(guidance, denoiser) : null;
  });
  return guide(denoiser, x, t, y, g);
}

/** {@link guidedPrediction} with guidance already checked and completed (the sampling loop's). */
export function guide(
  denoiser: Denoiser,
  x: tf.Tensor,
  t: number,
  y: tf.Tensor | ArrayLike<number> | null,
  g: Required<GuidanceOptions> | null,
): tf.Tensor4D {
  const b = x.shape[0];
  const times = new Float32Array(b).fill(t);
  if (!g || g.scale === 1 || t < g.interval[0] || t > g.interval[1]) return denoiser.forward(x, times, y);
  const labels = y instanceof tf.Tensor ? Array.from(y.dataSync()) : y ? Array.from(y) : null;
  if (labels && labels.length !== b)
    throw new Error(`guidedPrediction: y must hold ${b} labels, got ${labels.length}`);
  const nul = denoiser.nullClass as number;
  const yy = Int32Array.from([...(labels ?? new Array(b).fill(nul)), ...new Array(b).fill(nul)]);
  const tt = new Float32Array(2 * b).fill(t);
  const xx = tf.concat([x, x], 0);
  let out: tf.Tensor4D;
  try {
    out = denoiser.forward(xx, tt, yy);
  } finally {
    xx.dispose();
  }
  const result = tf.tidy(() => {
    const [cond, uncond] = tf.split(out, 2, 0);
    const guided = tf.add(uncond, tf.mul(tf.sub(cond, uncond), g.scale));
    const c = x.shape[3] as number;
    if (g.channels >= c) return guided as tf.Tensor4D;
    const head = tf.slice(guided, [0, 0, 0, 0], [-1, -1, -1, g.channels]);
    const rest = tf.slice(cond, [0, 0, 0, g.channels], [-1, -1, -1, c - g.channels]);
    return tf.concat([head, rest], 3) as tf.Tensor4D;
  });
  out.dispose();
  return result;
}
