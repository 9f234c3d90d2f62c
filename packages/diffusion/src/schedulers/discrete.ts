/** What DDPM and DDIM share: the beta schedule, its cumulative products and the step bookkeeping. */
import * as tf from '@tensorflow/tfjs-core';
import { alphasCumprod, betaSchedule, spacedTimesteps } from './betas.js';
import {
  type BetaScheduleName,
  type DiscreteSchedulerConfig,
  SchedulerBase,
  type TimestepSpacing,
  type UserTimesteps,
} from './scheduler.js';

/** Options of {@link DDPMScheduler} and {@link DDIMScheduler}. */
export interface DiscreteSchedulerOptions {
  /** T. Default 1000. */
  numTrainTimesteps?: number;
  /** Default 'linear'. */
  betaSchedule?: BetaScheduleName;
  /** How `setTimesteps(n)` picks n of the T steps. Default 'linspace' (guided-diffusion / DiT). */
  spacing?: TimestepSpacing;
  /** Clip the x0 estimate to [-clipRange, clipRange]. Default false (latents are not bounded). */
  clipSample?: boolean;
  /** Default 1. */
  clipRange?: number;
  /** DDPM's variance. Default 'fixed_small'. */
  varianceType?: 'fixed_small' | 'fixed_large';
  /** DDIM's eta. Default 0. */
  eta?: number;
}

/** Complete a discrete config from options. */
export function discreteConfig(
  type: 'ddpm' | 'ddim',
  opts: DiscreteSchedulerOptions,
): DiscreteSchedulerConfig {
  const where = type === 'ddpm' ? 'DDPMScheduler' : 'DDIMScheduler';
  const c: DiscreteSchedulerConfig = {
    type,
    numTrainTimesteps: opts.numTrainTimesteps ?? 1000,
    betaSchedule: opts.betaSchedule ?? 'linear',
    spacing: opts.spacing ?? 'linspace',
    clipSample: opts.clipSample ?? false,
    clipRange: opts.clipRange ?? 1,
    varianceType: opts.varianceType ?? 'fixed_small',
    eta: opts.eta ?? 0,
  };
  if (!Number.isInteger(c.numTrainTimesteps) || c.numTrainTimesteps < 2)
    throw new RangeError(`${where}: numTrainTimesteps must be an integer >= 2, got ${c.numTrainTimesteps}`);
  if (c.betaSchedule !== 'linear' && c.betaSchedule !== 'cosine')
    throw new TypeError(
      `${where}: betaSchedule must be 'linear' or 'cosine', got ${JSON.stringify(c.betaSchedule)}`,
    );
  if (!['linspace', 'leading', 'trailing'].includes(c.spacing))
    throw new TypeError(
      `${where}: spacing must be 'linspace', 'leading' or 'trailing', got ${JSON.stringify(c.spacing)}`,
    );
  if (typeof c.clipSample !== 'boolean') throw new TypeError(`${where}: clipSample must be a boolean`);
  if (!(c.clipRange > 0)) throw new RangeError(`${where}: clipRange must be > 0, got ${c.clipRange}`);
  if (c.varianceType !== 'fixed_small' && c.varianceType !== 'fixed_large')
    throw new TypeError(
      `${where}: varianceType must be 'fixed_small' or 'fixed_large', got ${JSON.stringify(c.varianceType)}`,
    );
  if (!(c.eta >= 0 && Number.isFinite(c.eta)))
    throw new RangeError(`${where}: eta must be a finite number >= 0, got ${c.eta}`);
  return c;
}

/** Base of DDPM and DDIM: epsilon prediction over integer steps 0..T-1 (larger = noisier). */
export abstract class DiscreteScheduler extends SchedulerBase {
  readonly prediction = 'epsilon' as const;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: DiscreteSchedulerConfig;
  /** beta_t, float64 [T]. */
  readonly betas: Float64Array;
  /** alpha_bar_t, float64 [T]. */
  readonly alphasCumprod: Float64Array;

  protected constructor(config: DiscreteSchedulerConfig) {
    super();
    this.config = config;
    this.betas = betaSchedule(config.betaSchedule, config.numTrainTimesteps);
    this.alphasCumprod = alphasCumprod(this.betas);
  }

  get numInferenceSteps(): number {
    return this.schedule.length;
  }

  /**
   * n steps spaced by `config.spacing`, or explicit integer timesteps in [0, T), strictly decreasing.
   */
  setTimesteps(steps: number | UserTimesteps): void {
    const T = this.config.numTrainTimesteps;
    const where = `${this.constructor.name}.setTimesteps`;
    if (typeof steps === 'number') {
      if (!Number.isInteger(steps) || steps < 1 || steps > T)
        throw new RangeError(`${where}: steps must be an integer in [1, ${T}], got ${steps}`);
      this.schedule = spacedTimesteps(T, steps, this.config.spacing);
    } else {
      const ts = steps?.timesteps;
      if (!ts || typeof ts.length !== 'number' || ts.length < 1)
        throw new TypeError(`${where}: timesteps must be a non-empty array of integers in [0, ${T})`);
      const s = Array.from(ts);
      s.forEach((v, i) => {
        if (!Number.isInteger(v) || v < 0 || v >= T)
          throw new RangeError(`${where}: timesteps must be integers in [0, ${T}), got ${v}`);
        if (i > 0 && !(v < s[i - 1]))
          throw new RangeError(
            `${where}: timesteps must decrease strictly (noisy to clean), got ${s[i - 1]} then ${v}`,
          );
      });
      this.schedule = s;
    }
    this.reset();
  }

  /** alpha_bar of step t, and of the step after it in the schedule (1 after the last: clean data). */
  protected alphas(i: number): { abT: number; abPrev: number; last: boolean } {
    const t = this.schedule[i];
    const last = i + 1 >= this.schedule.length;
    return { abT: this.alphasCumprod[t], abPrev: last ? 1 : this.alphasCumprod[this.schedule[i + 1]], last };
  }

  /** x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar), clipped when configured. */
  protected x0From(eps: tf.Tensor, sample: tf.Tensor, abT: number): tf.Tensor {
    return tf.tidy(() => {
      const x0 = tf.div(tf.sub(sample, tf.mul(eps, Math.sqrt(1 - abT))), Math.sqrt(abT));
      const r = this.config.clipRange;
      return this.config.clipSample ? tf.clipByValue(x0, -r, r) : x0;
    });
  }

  predictOriginal(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const T = this.config.numTrainTimesteps;
    if (!Number.isInteger(t) || t < 0 || t >= T)
      throw new RangeError(
        `${this.constructor.name}.predictOriginal: t must be an integer in [0, ${T}), got ${t}`,
      );
    return this.x0From(modelOutput, sample, this.alphasCumprod[t]);
  }

  /** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t an integer step (or one per sample). */
  addNoise(original: tf.Tensor, noise: tf.Tensor, t: number | ArrayLike<number>): tf.Tensor {
    const where = `${this.constructor.name}.addNoise`;
    this.checkNoisePair(original, noise);
    const T = this.config.numTrainTimesteps;
    const ts = typeof t === 'number' ? [t] : Array.from(t);
    for (const v of ts)
      if (!Number.isInteger(v) || v < 0 || v >= T)
        throw new RangeError(`${where}: t must be integers in [0, ${T}), got ${v}`);
    const b = original.shape[0];
    if (typeof t !== 'number' && ts.length !== b)
      throw new Error(`${where}: t must be a number or hold ${b} values, got ${ts.length}`);
    const shape = [typeof t === 'number' ? 1 : b, ...new Array(original.rank - 1).fill(1)];
    const abar = ts.map((v) => this.alphasCumprod[v]);
    // f(abar_t) of each t, shaped to broadcast over the samples.
    const per = (f: (ab: number) => number) => tf.tensor(Float32Array.from(abar, f), shape, 'float32');
    return tf.tidy(() => {
      const a = per(Math.sqrt);
      const s = per((ab) => Math.sqrt(1 - ab));
      return tf.add(tf.mul(original, a), tf.mul(noise, s));
    });
  }

  toJSON(): DiscreteSchedulerConfig {
    return { ...this.config };
  }

  dispose(): void {}
}
