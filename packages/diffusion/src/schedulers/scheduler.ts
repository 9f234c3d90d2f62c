/**
 * The scheduler contract shared by the rectified-flow ODE solvers (Euler, Heun) and DDPM / DDIM, in
 * the spirit of diffusers: `setTimesteps(n)` (or explicit user timesteps), then for each entry of
 * `timesteps` call the denoiser at that time and `step(output, t, sample)` to get the next sample.
 *
 * Time units are the scheduler's "model time", which is what the denoiser receives:
 * - flow schedulers: t in [0, 1], t = 0 pure noise, t = 1 data; timesteps increase.
 * - DDPM / DDIM: integer training steps 0..T-1, larger = noisier; timesteps decrease.
 * Every scheduler starts from N(0, I) noise (`initNoiseSigma` = 1).
 */
import type { Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** What the denoiser must predict for a scheduler. */
export type PredictionType = 'velocity' | 'epsilon';

/** Options of {@link Scheduler.step}. */
export interface StepOptions {
  /**
   * Generator for the fresh noise of stochastic steps (DDPM, DDIM with eta > 0): one for the whole
   * batch, or one per sample (then results do not depend on how samples are batched).
   */
  rng?: Rng | Rng[];
}

/** Explicit timesteps instead of a step count (model-time units, in calling order). */
export interface UserTimesteps {
  timesteps: ArrayLike<number>;
}

/** The common contract. */
export interface Scheduler {
  /** A short name ('flow-euler', 'flow-heun', 'ddpm', 'ddim'). */
  readonly name: string;
  /** What the denoiser must predict. */
  readonly prediction: PredictionType;
  /** Model times of the denoiser calls, in calling order; empty before `setTimesteps`. */
  readonly timesteps: readonly number[];
  /** Integration steps of the current schedule (Heun makes two denoiser calls per step). */
  readonly numInferenceSteps: number;
  /** Denoiser calls per integration step. */
  readonly order: number;
  /** Standard deviation of the starting noise (1 for every scheduler here). */
  readonly initNoiseSigma: number;
  /** Build the schedule: n integration steps, or explicit timesteps. Resets the step state. */
  setTimesteps(steps: number | UserTimesteps): void;
  /**
   * One update: from the denoiser's output at time `t` (which must be the next entry of `timesteps`)
   * and the current sample, the next sample. Inputs stay the caller's; the result is the caller's.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts?: StepOptions): tf.Tensor;
  /** The clean-data estimate implied by a prediction at time t (for previews). The caller owns it. */
  predictOriginal(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor;
  /**
   * The forward process: clean data `original` noised to time t (a number, or one per sample), with
   * `noise` ~ N(0, I) of the same shape. The caller owns the result.
   */
  addNoise(original: tf.Tensor, noise: tf.Tensor, t: number | ArrayLike<number>): tf.Tensor;
  /** Rewind to the first timestep and drop any stored step state. */
  reset(): void;
  /** Serialisable configuration; {@link schedulerFromConfig} rebuilds the scheduler. */
  toJSON(): SchedulerConfig;
  /** Release tensors held between steps (Heun). */
  dispose(): void;
}

/** Config of the flow schedulers. */
export interface FlowSchedulerConfig {
  type: 'flow-euler' | 'flow-heun';
  /** LightningDiT's timestep shift s (1 = none; the paper uses 0.3). */
  shift: number;
}

/** DDPM's beta schedules (guided-diffusion's `get_named_beta_schedule`). */
export type BetaScheduleName = 'linear' | 'cosine';

/** How n of the T training steps are chosen (see `spacedTimesteps`). */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/** Config of DDPM and DDIM. */
export interface DiscreteSchedulerConfig {
  type: 'ddpm' | 'ddim';
  numTrainTimesteps: number;
  betaSchedule: BetaScheduleName;
  spacing: TimestepSpacing;
  /** Clip the x0 estimate to [-clipRange, clipRange] (pixel-space models); off for latents. */
  clipSample: boolean;
  clipRange: number;
  /** DDPM: 'fixed_small' (posterior variance) or 'fixed_large' (beta). */
  varianceType: 'fixed_small' | 'fixed_large';
  /** DDIM: noise level, 0 = deterministic, 1 = DDPM-like. */
  eta: number;
}

/** Any scheduler's serialised config. */
export type SchedulerConfig = FlowSchedulerConfig | DiscreteSchedulerConfig;

/** Whether `a` and `b` are tensors of one shape (what `step`, `addNoise` and the flow objective check). */
export function sameShapeTensors(a: unknown, b: unknown): boolean {
  return a instanceof tf.Tensor && b instanceof tf.Tensor && tf.util.arraysEqual(a.shape, b.shape);
}

/** Shared bookkeeping: the schedule and the position in it. */
export abstract class SchedulerBase {
  protected schedule: number[] = [];
  protected index = 0;

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** Check that `t` is the next scheduled time and that shapes agree; returns its index. */
  protected advance(t: number, modelOutput: tf.Tensor, sample: tf.Tensor): number {
    const where = `${this.constructor.name}.step`;
    if (this.schedule.length === 0) throw new Error(`${where}: call setTimesteps before step`);
    if (this.index >= this.schedule.length) {
      throw new Error(
        `${where}: the schedule is finished (${this.schedule.length} steps); call setTimesteps or reset`,
      );
    }
    const want = this.schedule[this.index];
    if (t !== want)
      throw new Error(`${where}: expected timestep ${want} (entry ${this.index} of timesteps), got ${t}`);
    if (!sameShapeTensors(modelOutput, sample)) {
      throw new Error(
        `${where}: modelOutput [${modelOutput?.shape}] and sample [${sample?.shape}] must be tensors of one shape`,
      );
    }
    return this.index++;
  }

  /** `addNoise`'s check: two tensors of one shape. */
  protected checkNoisePair(original: tf.Tensor, noise: tf.Tensor): void {
    if (!sameShapeTensors(original, noise)) {
      throw new Error(
        `${this.constructor.name}.addNoise: original [${original?.shape}] and noise [${noise?.shape}] must be tensors of one shape`,
      );
    }
  }

  /** Standard normal noise of `shape` from one generator, or from one per sample along axis 0 (`step`'s). */
  protected drawNormal(shape: number[], rng: Rng | Rng[]): tf.Tensor {
    if (!Array.isArray(rng)) return rng.normal(shape);
    if (rng.length !== shape[0]) {
      throw new Error(
        `${this.constructor.name}.step: opts.rng has ${rng.length} generators for a batch of ${shape[0]}`,
      );
    }
    const per = shape.slice(1).reduce((a, b) => a * b, 1);
    const out = new Float32Array(shape[0] * per);
    for (let i = 0; i < rng.length; i++) out.set(Float32Array.from(rng[i].normalArray(per)), i * per);
    return tf.tensor(out, shape, 'float32');
  }

  reset(): void {
    this.index = 0;
  }
}
