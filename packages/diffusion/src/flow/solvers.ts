/**
 * ODE solvers of the rectified-flow ODE dx/dt = v(x, t), from t = 0 (noise) to t = 1 (data), as
 * schedulers: Euler (the reference sampler) and Heun, on a shared time grid.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type FlowSchedulerConfig,
  type Scheduler,
  SchedulerBase,
  type UserTimesteps,
} from '../schedulers/scheduler.js';
import { linearPath, shiftedTimeGrid } from './rectified-flow.js';

/** Options of the flow schedulers. */
export interface FlowSchedulerOptions {
  /** Timestep shift s of t' = s t / (1 + (s - 1) t); default 1 (none). The paper samples with 0.3. */
  shift?: number;
}

/** What Euler and Heun share: the shift, the time grid t_0 = 0 < ... < t_n = 1 and the linear path. */
abstract class FlowScheduler extends SchedulerBase {
  abstract readonly name: FlowSchedulerConfig['type'];
  readonly prediction = 'velocity' as const;
  readonly initNoiseSigma = 1;
  readonly shift: number;
  protected grid: Float64Array = new Float64Array(0);

  constructor(opts: FlowSchedulerOptions = {}) {
    super();
    const shift = opts.shift ?? 1;
    if (!(Number.isFinite(shift) && shift > 0))
      throw new RangeError(`${this.constructor.name}: shift must be a finite number > 0, got ${shift}`);
    this.shift = shift;
  }

  get numInferenceSteps(): number {
    return Math.max(0, this.grid.length - 1);
  }

  /** The full grid t_0 .. t_n (n + 1 points, ending at 1). */
  get sigmas(): readonly number[] {
    return Array.from(this.grid);
  }

  /**
   * n steps: the shifted linspace(0, 1, n + 1). Explicit timesteps: strictly increasing times in
   * [0, 1), the points where the model is evaluated; the grid ends at 1 (data).
   */
  protected setGrid(steps: number | UserTimesteps): void {
    const where = `${this.constructor.name}.setTimesteps`;
    if (typeof steps === 'number') {
      if (!Number.isInteger(steps) || steps < 1)
        throw new RangeError(`${where}: steps must be an integer >= 1, got ${steps}`);
      this.grid = shiftedTimeGrid(steps, this.shift);
      return;
    }
    const ts = steps?.timesteps;
    if (!ts || typeof ts.length !== 'number' || ts.length < 1) {
      throw new TypeError(`${where}: timesteps must be a non-empty array of times in [0, 1)`);
    }
    const g = new Float64Array(ts.length + 1);
    for (let i = 0; i < ts.length; i++) {
      const v = ts[i];
      if (!(v >= 0 && v < 1))
        throw new RangeError(`${where}: timesteps must be in [0, 1) (0 = noise), got ${v}`);
      if (i > 0 && !(v > ts[i - 1]))
        throw new RangeError(
          `${where}: timesteps must increase strictly (noise to data), got ${ts[i - 1]} then ${v}`,
        );
      g[i] = v;
    }
    g[ts.length] = 1;
    this.grid = g;
  }

  /** x1 = x_t + (1 - t) v. */
  predictOriginal(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, 1 - t)));
  }

  /** x_t = t * x1 + (1 - t) * noise (t = 0 noise, 1 data), t a number or one per sample. */
  addNoise(original: tf.Tensor, noise: tf.Tensor, t: number | ArrayLike<number>): tf.Tensor {
    const where = `${this.constructor.name}.addNoise`;
    this.checkNoisePair(original, noise);
    const vals = typeof t === 'number' ? [t] : Array.from(t);
    const bad = vals.find((v) => !(v >= 0 && v <= 1));
    if (bad !== undefined) throw new RangeError(`${where}: t must be in [0, 1], got ${bad}`);
    if (typeof t !== 'number' && vals.length !== original.shape[0])
      throw new Error(`${where}: t must be a number or hold ${original.shape[0]} values, got ${vals.length}`);
    return linearPath(original, noise, t);
  }

  toJSON(): FlowSchedulerConfig {
    return { type: this.name, shift: this.shift };
  }
}

/**
 * x_{i+1} = x_i + (t_{i+1} - t_i) v(x_i, t_i) on the grid t_0 = 0 < ... < t_n = 1 (shifted linspace,
 * or explicit times). One denoiser call per step; `timesteps` = t_0 .. t_{n-1}. This is the reference
 * sampler (`sampling_method: euler`).
 */
export class FlowEulerScheduler extends FlowScheduler implements Scheduler {
  readonly name = 'flow-euler';
  readonly order = 1;

  setTimesteps(steps: number | UserTimesteps): void {
    this.setGrid(steps);
    this.schedule = Array.from(this.grid.subarray(0, this.grid.length - 1));
    this.index = 0;
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.advance(t, modelOutput, sample);
    const dt = this.grid[i + 1] - this.grid[i];
    return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, dt)));
  }

  dispose(): void {}
}

/**
 * Heun's method (explicit trapezoid), second order in the step size. Per step i: predictor x' = x_i +
 * dt v(x_i, t_i), corrector x_{i+1} = x_i + dt/2 (v(x_i, t_i) + v(x', t_{i+1})). Two denoiser calls per
 * step, so `timesteps` lists t_0, t_1, t_1, t_2, ..., t_{n-1}, t_n and `step` alternates between the
 * two stages (diffusers' Heun convention): after a first-stage call it returns the predictor x', after
 * the second the new x_{i+1}.
 */
export class FlowHeunScheduler extends FlowScheduler implements Scheduler {
  readonly name = 'flow-heun';
  readonly order = 2;
  /** x_i and v(x_i, t_i) between the two stages. */
  private stored: { x: tf.Tensor; v: tf.Tensor } | null = null;

  setTimesteps(steps: number | UserTimesteps): void {
    this.setGrid(steps);
    const s: number[] = [];
    for (let i = 0; i + 1 < this.grid.length; i++) s.push(this.grid[i], this.grid[i + 1]);
    this.schedule = s;
    this.reset();
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const k = this.advance(t, modelOutput, sample);
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

  override reset(): void {
    super.reset();
    this.clearStored();
  }

  dispose(): void {
    this.clearStored();
  }

  private clearStored(): void {
    if (this.stored) tf.dispose([this.stored.x, this.stored.v]);
    this.stored = null;
  }
}
