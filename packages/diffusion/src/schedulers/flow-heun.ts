/** Heun's method (explicit trapezoid) for the rectified-flow ODE, second order in the step size. */
import * as tf from '@tensorflow/tfjs-core';
import { type FlowSchedulerOptions, flowAddNoise } from './flow-euler.js';
import { checkFlowShift, flowGrid } from './flow-grid.js';
import { type FlowSchedulerConfig, type Scheduler, SchedulerBase, type UserTimesteps } from './scheduler.js';

/**
 * Per step i: predictor x' = x_i + dt v(x_i, t_i), corrector x_{i+1} = x_i + dt/2 (v(x_i, t_i) +
 * v(x', t_{i+1})). Two denoiser calls per step, so `timesteps` lists t_0, t_1, t_1, t_2, ..., t_{n-1},
 * t_n and `step` alternates between the two stages (diffusers' Heun convention): after a first-stage
 * call it returns the predictor x', after the second the new x_{i+1}.
 */
export class FlowHeunScheduler extends SchedulerBase implements Scheduler {
  readonly name = 'flow-heun';
  readonly prediction = 'velocity' as const;
  readonly order = 2;
  readonly initNoiseSigma = 1;
  readonly shift: number;
  private grid: Float64Array = new Float64Array(0);
  /** x_i and v(x_i, t_i) between the two stages. */
  private stored: { x: tf.Tensor; v: tf.Tensor } | null = null;

  constructor(opts: FlowSchedulerOptions = {}) {
    super();
    this.shift = checkFlowShift(opts.shift ?? 1, 'FlowHeunScheduler');
  }

  get numInferenceSteps(): number {
    return Math.max(0, this.grid.length - 1);
  }

  /** The grid t_0 .. t_n. */
  get sigmas(): readonly number[] {
    return Array.from(this.grid);
  }

  setTimesteps(steps: number | UserTimesteps): void {
    this.grid = flowGrid(steps, this.shift, 'FlowHeunScheduler.setTimesteps');
    const s: number[] = [];
    for (let i = 0; i + 1 < this.grid.length; i++) s.push(this.grid[i], this.grid[i + 1]);
    this.schedule = s;
    this.reset();
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const k = this.advance('FlowHeunScheduler.step', t, modelOutput, sample);
    const i = k >> 1;
    const dt = this.grid[i + 1] - this.grid[i];
    if (k % 2 === 0) {
      this.clearStored();
      // Kept so that a caller's tf.tidy around step() does not release them between the stages.
      this.stored = { x: tf.keep(sample.clone()), v: tf.keep(modelOutput.clone()) };
      return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, dt)));
    }
    const st = this.stored;
    if (!st)
      throw new Error('FlowHeunScheduler.step: missing first-stage state (call reset or setTimesteps)');
    const out = tf.tidy(() => tf.add(st.x, tf.mul(tf.add(st.v, modelOutput), dt / 2)));
    this.clearStored();
    return out;
  }

  /** x1 = x_t + (1 - t) v. */
  predictOriginal(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, 1 - t)));
  }

  addNoise(original: tf.Tensor, noise: tf.Tensor, t: number | ArrayLike<number>): tf.Tensor {
    return flowAddNoise(original, noise, t, 'FlowHeunScheduler.addNoise');
  }

  override reset(): void {
    super.reset();
    this.clearStored();
  }

  toJSON(): FlowSchedulerConfig {
    return { type: 'flow-heun', shift: this.shift };
  }

  dispose(): void {
    this.clearStored();
  }

  private clearStored(): void {
    if (this.stored) tf.dispose([this.stored.x, this.stored.v]);
    this.stored = null;
  }
}
