/**
 * The `Denoiser` contract: every network the samplers and the trainer drive (DiT, LightningDiT, or a
 * user model) maps a noisy latent, its time and an optional class label to a prediction of the same
 * shape. What the prediction means (velocity, noise) is the scheduler's business, not the model's.
 */
import { canReadSync, type Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from './schedulers/scheduler.js';

/** What every denoiser offers. Latents are NHWC: [B, h, w, c]. */
export interface Denoiser {
  /** Latent channels c of inputs and predictions. */
  readonly inChannels: number;
  /** Latent grid [h, w] the model was built for. */
  readonly inputSize: [number, number];
  /** Number of real classes (1 for an unconditional model). */
  readonly numClasses: number;
  /**
   * Label of the "no class" embedding used by label dropout and classifier-free guidance
   * (= numClasses), or null when the model has none (trained without label dropout).
   */
  readonly nullClass: number | null;
  /**
   * What the model was trained to predict ('velocity' for rectified flow, 'epsilon' for DDPM), when
   * known: trainers and loaders set it, and a pipeline refuses a scheduler that expects the other.
   */
  prediction?: PredictionType | null;
  /**
   * Prediction for noisy latents.
   * @param x [B, h, w, c] float32 noisy latents.
   * @param t [B] times in the scheduler's model units (rectified flow: t in [0, 1], 0 = noise;
   *   DDPM / DDIM: integer steps 0..T-1, larger = noisier).
   * @param y [B] int32 labels in [0, numClasses] (numClasses = the null class); omitted: the null
   *   class when the model has one, else class 0.
   * @returns [B, h, w, c] float32; the caller owns it.
   */
  forward(
    x: tf.Tensor,
    t: tf.Tensor | ArrayLike<number>,
    y?: tf.Tensor | ArrayLike<number> | null,
  ): tf.Tensor4D;
}

/** A denoiser that is also a {@link Module} (trainable, with a PyTorch-named state dict). */
export type DenoiserModule = Denoiser & Module;

// Input checks of denoiser calls, shared by the models and the samplers: their messages name the
// argument, and the public function that runs them adds its own name with atDoor.

/** Times as a float32 [B] tensor (a new tensor the caller owns). */
export function timesTensor(t: tf.Tensor | ArrayLike<number>, batch: number): tf.Tensor1D {
  if (t instanceof tf.Tensor) {
    if (t.rank !== 1 || t.shape[0] !== batch) {
      throw new Error(`t must have shape [${batch}], got [${t.shape}]`);
    }
    return tf.cast(t, 'float32') as tf.Tensor1D;
  }
  if (t == null || typeof t.length !== 'number' || t.length !== batch) {
    throw new Error(`t must hold ${batch} times (one per sample), got ${t == null ? t : t.length}`);
  }
  const a = Float32Array.from(t as ArrayLike<number>);
  if (a.some((v) => !Number.isFinite(v))) throw new Error(`t must be finite numbers`);
  return tf.tensor1d(a, 'float32');
}

/**
 * Labels as an int32 [B] tensor (a new tensor the caller owns), checked against [0, classes). With no
 * labels, every sample gets `fallback`.
 */
export function labelsTensor(
  y: tf.Tensor | ArrayLike<number> | null | undefined,
  batch: number,
  classes: number,
  fallback: number,
): tf.Tensor1D {
  let values: Int32Array;
  if (y == null) return tf.fill([batch], fallback, 'int32') as tf.Tensor1D;
  if (y instanceof tf.Tensor) {
    if (y.rank !== 1 || y.shape[0] !== batch) {
      throw new Error(`y must have shape [${batch}], got [${y.shape}]`);
    }
    if (y.dtype !== 'int32') throw new Error(`y must be an int32 tensor, got ${y.dtype}`);
    // A label out of range would silently embed as zeros (one-hot of nothing); reading B ints is cheap.
    // WebGPU in Node cannot read synchronously: there labels given as host arrays are checked, tensors not.
    if (!canReadSync()) return y.clone() as tf.Tensor1D;
    values = y.dataSync() as Int32Array;
  } else {
    if (typeof y.length !== 'number' || y.length !== batch) {
      throw new Error(`y must hold ${batch} labels, got ${y.length}`);
    }
    values = Int32Array.from(y);
    if (Array.from(y).some((v, i) => v !== values[i])) throw new Error(`y must be integers`);
  }
  for (const v of values) {
    if (!(v >= 0 && v < classes)) throw new RangeError(`labels must be in [0, ${classes}), got ${v}`);
  }
  return y instanceof tf.Tensor ? (y.clone() as tf.Tensor1D) : tf.tensor1d(values, 'int32');
}

/** Check a noisy batch against a denoiser's latent shape; returns B. */
export function checkLatentInput(x: tf.Tensor, d: Denoiser): number {
  const [h, w] = d.inputSize;
  if (
    !(x instanceof tf.Tensor) ||
    x.rank !== 4 ||
    x.shape[1] !== h ||
    x.shape[2] !== w ||
    x.shape[3] !== d.inChannels
  ) {
    const got = x instanceof tf.Tensor ? `[${x.shape}]` : String(x);
    throw new Error(`x must have shape [B, ${h}, ${w}, ${d.inChannels}] (NHWC latents), got ${got}`);
  }
  if (x.shape[0] < 1) throw new Error(`x has an empty batch`);
  return x.shape[0];
}
