/**
 * Training objectives: what a denoiser learns. {@link RectifiedFlow} (velocity, the paper's) and
 * {@link EpsilonObjective} (DDPM's noise prediction) both implement {@link DiffusionObjective}.
 */
import type { Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../denoiser.js';
import type { RectifiedFlowConfig } from '../flow/rectified-flow.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import type { BetaScheduleName, PredictionType } from '../schedulers/scheduler.js';

/** A training objective. */
export interface DiffusionObjective {
  /** What the denoiser learns to predict (and so which schedulers sample it). */
  readonly prediction: PredictionType;
  /**
   * The scalar loss of one batch of clean (normalised) latents [B, h, w, c] with labels [B] (already
   * label-dropped) or null; draws times and noise from `rng`. Differentiable in the denoiser's weights.
   */
  loss(denoiser: Denoiser, data: tf.Tensor, rng: Rng, inputs?: { labels?: tf.Tensor | null }): tf.Scalar;
  toJSON(): RectifiedFlowConfig | EpsilonObjectiveConfig;
}

/** Config of {@link EpsilonObjective}. */
export interface EpsilonObjectiveConfig {
  type: 'epsilon';
  numTrainTimesteps: number;
  betaSchedule: BetaScheduleName;
}

/**
 * DDPM's simple loss: t uniform in {0..T-1}, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, loss =
 * mean((eps_theta(x_t, t, y) - eps)^2). Sample with {@link DDPMScheduler} / {@link DDIMScheduler} of the
 * same T and beta schedule.
 */
export class EpsilonObjective implements DiffusionObjective {
  readonly prediction = 'epsilon' as const;
  readonly numTrainTimesteps: number;
  readonly betaSchedule: BetaScheduleName;
  /** The forward process x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, as the samplers define it. */
  private readonly process: DDPMScheduler;

  constructor(opts: { numTrainTimesteps?: number; betaSchedule?: BetaScheduleName } = {}) {
    this.numTrainTimesteps = opts.numTrainTimesteps ?? 1000;
    this.betaSchedule = opts.betaSchedule ?? 'linear';
    this.process = new DDPMScheduler({
      numTrainTimesteps: this.numTrainTimesteps,
      betaSchedule: this.betaSchedule,
    });
  }

  static fromConfig(config: EpsilonObjectiveConfig): EpsilonObjective {
    if (config?.type !== 'epsilon') {
      throw new TypeError(
        `EpsilonObjective.fromConfig: config.type must be 'epsilon', got ${JSON.stringify(config?.type)}`,
      );
    }
    return new EpsilonObjective(config);
  }

  toJSON(): EpsilonObjectiveConfig {
    return { type: 'epsilon', numTrainTimesteps: this.numTrainTimesteps, betaSchedule: this.betaSchedule };
  }

  loss(denoiser: Denoiser, data: tf.Tensor, rng: Rng, inputs: { labels?: tf.Tensor | null } = {}): tf.Scalar {
    const b = data.shape[0];
    const t = Array.from({ length: b }, () => rng.nextInt(this.numTrainTimesteps));
    const noise = rng.normal(data.shape);
    try {
      return tf.tidy(() => {
        const xt = this.process.addNoise(data, noise, t);
        const pred = denoiser.forward(xt, Float32Array.from(t), inputs.labels ?? null);
        return tf.mean(tf.squaredDifference(pred, noise)) as tf.Scalar;
      });
    } finally {
      noise.dispose();
    }
  }
}
