/**
 * Rectified flow ("transport" in SiT / LightningDiT): the linear path, the velocity loss and
 * LightningDiT's sampling-time shift. The ODE solvers that sample it are in solvers.ts.
 *
 * Time convention, used everywhere in this package's flow code: t in [0, 1], t = 0 is pure noise and
 * t = 1 is data (LightningDiT's `path_type: Linear`):
 *   x_t = t * x1 + (1 - t) * x0,  x1 = data, x0 ~ N(0, I),  target velocity u = dx_t/dt = x1 - x0.
 * Sampling integrates dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data).
 */
import type { Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../denoiser.js';
import { sameShapeTensors } from '../schedulers/scheduler.js';

/** How training times are drawn: logit-normal (sigmoid of N(mu, sigma^2)) or uniform on [0, 1). */
export type TimeSampling = { kind: 'logit-normal'; mu?: number; sigma?: number } | { kind: 'uniform' };

/** Options of {@link RectifiedFlow}. */
export interface RectifiedFlowOptions {
  /** Default logit-normal with mu 0, sigma 1 (LightningDiT's `use_lognorm: true`). */
  timeSampling?: TimeSampling;
}

/** The serialisable config of a {@link RectifiedFlow}. */
export interface RectifiedFlowConfig {
  type: 'rectified-flow';
  timeSampling: { kind: 'logit-normal'; mu: number; sigma: number } | { kind: 'uniform' };
}

/** What a training loss needs besides the data; drawn from an Rng when not given. */
export interface FlowLossInputs {
  /** [B] training times in [0, 1]. */
  t?: Float32Array | number[];
  /** [B, h, w, c] noise x0; the caller keeps ownership. */
  noise?: tf.Tensor;
  /** [B] int32 labels (already label-dropped), or null. */
  labels?: tf.Tensor | null;
}

/**
 * The linear path x_t = t x1 + (1 - t) x0 for data x1 and noise x0 [B, ...], at times t: a [B] tensor,
 * host values (one per sample) or one number. Unchecked: the public doors ({@link RectifiedFlow} and the
 * flow schedulers' `addNoise`) check their inputs. The caller owns the result.
 */
export function linearPath(
  data: tf.Tensor,
  noise: tf.Tensor,
  t: tf.Tensor | number | ArrayLike<number>,
): tf.Tensor {
  return tf.tidy(() => {
    const ones = new Array(data.rank - 1).fill(1);
    const tt =
      t instanceof tf.Tensor
        ? tf.reshape(t, [t.shape[0], ...ones])
        : typeof t === 'number'
          ? tf.fill([1, ...ones], t)
          : tf.tensor(Float32Array.from(t), [t.length, ...ones], 'float32');
    return tf.add(tf.mul(data, tt), tf.mul(noise, tf.sub(1, tt)));
  });
}

/** The rectified-flow objective: path, target and loss. */
export class RectifiedFlow {
  readonly timeSampling: RectifiedFlowConfig['timeSampling'];
  /** What the denoiser predicts under this objective. */
  readonly prediction = 'velocity' as const;

  constructor(opts: RectifiedFlowOptions = {}) {
    const ts = opts.timeSampling ?? { kind: 'logit-normal' };
    if (ts.kind === 'logit-normal') {
      const mu = ts.mu ?? 0;
      const sigma = ts.sigma ?? 1;
      if (!Number.isFinite(mu))
        throw new RangeError(`RectifiedFlow: timeSampling.mu must be finite, got ${mu}`);
      if (!(Number.isFinite(sigma) && sigma > 0))
        throw new RangeError(`RectifiedFlow: timeSampling.sigma must be > 0, got ${sigma}`);
      this.timeSampling = { kind: 'logit-normal', mu, sigma };
    } else if (ts.kind === 'uniform') this.timeSampling = { kind: 'uniform' };
    else {
      throw new TypeError(
        `RectifiedFlow: timeSampling.kind must be 'logit-normal' or 'uniform', got ${JSON.stringify((ts as { kind?: unknown }).kind)}`,
      );
    }
  }

  /** Rebuild from {@link toJSON} output. */
  static fromConfig(config: RectifiedFlowConfig): RectifiedFlow {
    if (config?.type !== 'rectified-flow') {
      throw new TypeError(
        `RectifiedFlow.fromConfig: config.type must be 'rectified-flow', got ${JSON.stringify(config?.type)}`,
      );
    }
    return new RectifiedFlow({ timeSampling: config.timeSampling });
  }

  toJSON(): RectifiedFlowConfig {
    return { type: 'rectified-flow', timeSampling: { ...this.timeSampling } };
  }

  /** n training times in [0, 1] (float64 host values), drawn from `rng`. */
  sampleTimes(n: number, rng: Rng): Float64Array {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`RectifiedFlow.sampleTimes: n must be an integer >= 1, got ${n}`);
    const ts = this.timeSampling;
    if (ts.kind === 'uniform') return rng.uniformArray(n);
    const z = rng.normalArray(n, ts.mu, ts.sigma);
    return z.map((v) => 1 / (1 + Math.exp(-v)));
  }

  /** x_t = t * x1 + (1 - t) * x0 for data x1, noise x0 [B, ...] and times t [B]. */
  interpolate(data: tf.Tensor, noise: tf.Tensor, t: tf.Tensor | ArrayLike<number>): tf.Tensor {
    checkPair(data, noise);
    const b = data.shape[0];
    if (t instanceof tf.Tensor ? t.rank !== 1 || t.shape[0] !== b : t.length !== b)
      throw new Error(`RectifiedFlow.interpolate: t must hold ${b} times (shape [${b}])`);
    return linearPath(data, noise, t);
  }

  /** The velocity target u = x1 - x0 (independent of t on the linear path). */
  velocity(data: tf.Tensor, noise: tf.Tensor): tf.Tensor {
    checkPair(data, noise);
    return tf.sub(data, noise);
  }

  /**
   * The training loss: mean over every element of (v(x_t, t, y) - (x1 - x0))^2 (the reference's
   * mean_flat then mean; no cosine term). Differentiable in the denoiser's weights.
   * @param data [B, h, w, c] clean (normalised) latents x1.
   * @param rng draws t and the noise when `inputs` does not give them.
   * @returns a scalar the caller owns.
   */
  loss(denoiser: Denoiser, data: tf.Tensor, rng: Rng, inputs: FlowLossInputs = {}): tf.Scalar {
    const b = data.shape[0];
    const t = inputs.t ?? this.sampleTimes(b, rng);
    if (t.length !== b) throw new Error(`RectifiedFlow.loss: inputs.t must hold ${b} times, got ${t.length}`);
    const noise = inputs.noise ?? rng.normal(data.shape);
    try {
      checkPair(data, noise);
      return tf.tidy(() => {
        const tt = tf.tensor1d(Float32Array.from(t), 'float32');
        const xt = linearPath(data, noise, tt);
        const pred = denoiser.forward(xt, tt, inputs.labels ?? null);
        return tf.mean(tf.squaredDifference(pred, tf.sub(data, noise))) as tf.Scalar;
      });
    } finally {
      if (!inputs.noise) noise.dispose();
    }
  }
}

function checkPair(data: tf.Tensor, noise: tf.Tensor): void {
  if (!sameShapeTensors(data, noise)) {
    throw new Error(
      `RectifiedFlow: data and noise must be tensors of the same shape, got [${data?.shape}] and [${noise?.shape}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// LightningDiT's sampling-time shift t' = s t / (1 + (s - 1) t). It maps [0, 1] onto itself, fixes
// both ends and is increasing; s < 1 packs the grid towards the noise end (the paper samples with
// s = 0.3), s = 1 is the identity.
// ---------------------------------------------------------------------------------------------

/** A shift s > 0 (throws naming the function). */
function checkShift(s: number, fn: string): void {
  if (!(Number.isFinite(s) && s > 0))
    throw new RangeError(`${fn}: shift must be a finite number > 0, got ${s}`);
}

/** t' = s t / (1 + (s - 1) t) for t in [0, 1] and shift s > 0. */
export function shiftTimestep(t: number, shift: number): number {
  checkShift(shift, 'shiftTimestep');
  if (!(t >= 0 && t <= 1)) throw new RangeError(`shiftTimestep: t must be in [0, 1], got ${t}`);
  // Exact at the data end, where s / s can round below 1.
  return t === 1 ? 1 : (shift * t) / (1 + (shift - 1) * t);
}

/** The inverse map: t = t' / (s + (1 - s) t'), i.e. {@link shiftTimestep} with 1 / s. */
export function unshiftTimestep(tShifted: number, shift: number): number {
  checkShift(shift, 'unshiftTimestep');
  return shiftTimestep(tShifted, 1 / shift);
}

/**
 * The sampling grid: n + 1 points linspace(0, 1, n + 1), each shifted. (The reference builds
 * linspace(0, 1, num_steps) and integrates between consecutive points, so its `num_sampling_steps:
 * 250` is n = 249 here.)
 */
export function shiftedTimeGrid(n: number, shift = 1): Float64Array {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`shiftedTimeGrid: n must be an integer >= 1, got ${n}`);
  checkShift(shift, 'shiftedTimeGrid');
  const g = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) g[i] = shiftTimestep(i / n, shift);
  g[n] = 1;
  return g;
}
