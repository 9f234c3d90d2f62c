/**
 * The sampling loop every scheduler shares: from noise, for each scheduled time, a (guided) denoiser
 * prediction and a scheduler step. Tensor memory is flat: each step releases the previous sample.
 */

import type { Rng } from '@ldmae/core';
import { atDoor } from '@ldmae/core';
import type * as tf from '@tensorflow/tfjs-core';
import { checkLatentInput, type Denoiser } from '../denoiser.js';
import type { Scheduler, UserTimesteps } from '../schedulers/scheduler.js';
import { checkGuidance, type GuidanceOptions, guide } from './guidance.js';

/** Options of {@link sampleLoop}. */
export interface SampleLoopOptions {
  denoiser: Denoiser;
  scheduler: Scheduler;
  /** [B, h, w, c] starting noise N(0, I); stays the caller's. */
  noise: tf.Tensor;
  /** Steps (or explicit timesteps) passed to `scheduler.setTimesteps`; omitted: the schedule already set. */
  steps?: number | UserTimesteps;
  /** [B] class labels; omitted: the null class (or class 0 for an unconditional model). */
  labels?: ArrayLike<number> | null;
  /** Classifier-free guidance; omitted or null: none. */
  guidance?: GuidanceOptions | null;
  /** Generator(s) of stochastic schedulers (DDPM, DDIM with eta > 0): one, or one per sample. */
  rng?: Rng | Rng[];
  /** Called after every scheduler step with (steps done, steps in all). */
  onStep?: (done: number, total: number) => void;
  /** Checked between steps; an aborted loop throws an AbortError-named Error. */
  signal?: AbortSignal;
}

const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );

/** Validate options once (the loop's steps trust them): the labels and the completed guidance. */
function prepare(o: SampleLoopOptions) {
  if (!o || typeof o !== 'object') throw new TypeError('options object expected');
  if (!o.denoiser || typeof o.denoiser.forward !== 'function')
    throw new TypeError('denoiser must be a Denoiser');
  if (!o.scheduler || typeof o.scheduler.step !== 'function')
    throw new TypeError('scheduler must be a Scheduler');
  const b = checkLatentInput(o.noise, o.denoiser);
  const guidance = o.guidance ? checkGuidance(o.guidance, o.denoiser) : null;
  let labels: Int32Array | null = null;
  if (o.labels != null) {
    labels = Int32Array.from(o.labels);
    if (labels.length !== b) throw new Error(`labels must hold ${b} values, got ${labels.length}`);
    const top = o.denoiser.numClasses + (o.denoiser.nullClass === null ? 0 : 1);
    for (const v of labels)
      if (!(v >= 0 && v < top)) throw new RangeError(`labels must be in [0, ${top}), got ${v}`);
  }
  if (o.steps !== undefined) o.scheduler.setTimesteps(o.steps);
  else o.scheduler.reset();
  if (o.scheduler.timesteps.length === 0) throw new Error('the scheduler has no timesteps; pass steps');
  return { labels, guidance };
}

/**
 * Run the reverse process from `noise` to clean latents.
 * @returns [B, h, w, c] samples; the caller owns them.
 */
export async function sampleLoop(opts: SampleLoopOptions): Promise<tf.Tensor4D> {
  const { labels, guidance } = atDoor('sampleLoop', () => prepare(opts));
  const { denoiser, scheduler, rng, signal } = opts;
  const ts = scheduler.timesteps;
  let x: tf.Tensor = opts.noise.clone();
  try {
    for (let i = 0; i < ts.length; i++) {
      if (signal?.aborted) {
        const e = new Error(`sampleLoop: aborted after ${i} of ${ts.length} steps`);
        e.name = 'AbortError';
        throw e;
      }
      const pred = guide(denoiser, x, ts[i], labels, guidance);
      let next: tf.Tensor;
      try {
        next = scheduler.step(pred, ts[i], x, rng ? { rng } : {});
      } finally {
        pred.dispose();
      }
      x.dispose();
      x = next;
      opts.onStep?.(i + 1, ts.length);
      if (i + 1 < ts.length) await yieldToEventLoop();
    }
    return x as tf.Tensor4D;
  } catch (e) {
    x.dispose();
    throw e;
  }
}
