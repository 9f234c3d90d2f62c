/** Euler's method for the rectified-flow ODE dx/dt = v(x, t), from t = 0 (noise) to t = 1 (data). */
import * as tf from '@tensorflow/tfjs-core';
import { checkFlowShift, flowGrid } from './flow-grid.js';
import {
  type FlowSchedulerConfig,
  perSampleTensor,
  type Scheduler,
  SchedulerBase,
  type UserTimesteps,
} from './scheduler.js';

/** Options of the flow schedulers. */
export interface FlowSchedulerOptions {
  /** Timestep shift s of t' = s t / (1 + (s - 1) t); default 1 (none). The paper samples with 0.3. */
  shift?: number;
}

/**
 * x_{i+1} = x_i + (t_{i+1} - t_i) v(x_i, t_i) on the grid t_0 = 0 < ... < t_n = 1 (shifted linspace,
 * or explicit times). One denoiser call per step; `timesteps` = t_0 .. t_{n-1}. This is the reference
 * sampler (`sampling_method: euler`).
 */
export class FlowEulerScheduler extends SchedulerBase implements Scheduler {
  readonly name = 'flow-euler';
  readonly prediction = 'velocity' as const;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly shift: number;
  private grid: Float64Array = new Float64Array(0);

  constructor(opts: FlowSchedulerOptions = {}) {
    super();
    this.shift = checkFlowShift(opts.shift ?? 1, 'FlowEulerScheduler');
  }

  get numInferenceSteps(): number {
    return Math.max(0, this.grid.length - 1);
  }

  /** The full grid t_0 .. t_n (n + 1 points, ending at 1). */
  get sigmas(): readonly number[] {
    return Array.from(this.grid);
  }

  setTimesteps(steps: number | UserTimesteps): void {
    this.grid = flowGrid(steps, this.shift, 'FlowEulerScheduler.setTimesteps');
    this.schedule = Array.from(this.grid.subarray(0, this.grid.length - 1));
    this.index = 0;
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.advance('FlowEulerScheduler.step', t, modelOutput, sample);
    const dt = this.grid[i + 1] - this.grid[i];
    return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, dt)));
  }

  /** x1 = x_t + (1 - t) v. */
  predictOriginal(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(sample, tf.mul(modelOutput, 1 - t)));
  }

  /** x_t = t * x1 + (1 - t) * noise (t = 0 noise, 1 data). */
  addNoise(original: tf.Tensor, noise: tf.Tensor, t: number | ArrayLike<number>): tf.Tensor {
    return flowAddNoise(original, noise, t, 'FlowEulerScheduler.addNoise');
  }

  toJSON(): FlowSchedulerConfig {
    return { type: 'flow-euler', shift: this.shift };
  }

  dispose(): void {}
}

/** The linear path x_t = t x1 + (1 - t) x0, shared by the flow schedulers. */
export function flowAddNoise(
  original: tf.Tensor,
  noise: tf.Tensor,
  t: number | ArrayLike<number>,
  where: string,
): tf.Tensor {
  if (
    !(original instanceof tf.Tensor) ||
    !(noise instanceof tf.Tensor) ||
    !tf.util.arraysEqual(original.shape, noise.shape)
  ) {
    throw new Error(
      `${where}: original [${original?.shape}] and noise [${noise?.shape}] must be tensors of one shape`,
    );
  }
  const vals = typeof t === 'number' ? [t] : Array.from(t);
  if (vals.some((v) => !(v >= 0 && v <= 1)))
    throw new RangeError(`${where}: t must be in [0, 1], got ${vals.find((v) => !(v >= 0 && v <= 1))}`);
  return tf.tidy(() => {
    const tt = perSampleTensor(t, original, where);
    return tf.add(tf.mul(original, tt), tf.mul(noise, tf.sub(1, tt)));
  });
}
