/**
 * Typed progress of long work (training, encoding a data set, sampling, evaluation) and the smoothed
 * rate / ETA meter that produces it.
 */
import { checkNumber } from '../checks.js';

/** Progress of any long job, in its own units (images, batches, steps). */
export interface Progress {
  /** What is running, e.g. 'train', 'encode', 'sample', 'fid'. */
  phase: string;
  /** Units done so far. */
  done: number;
  /** Units in all (Infinity when unknown). */
  total: number;
  /** Smoothed units per second (0 before the first measurement). */
  rate: number;
  /** Seconds left at the smoothed rate (Infinity while unknown). */
  etaSeconds: number;
  /** Seconds since the meter started. */
  elapsedSeconds: number;
}

/** A listener for {@link Progress} events. */
export type ProgressCallback<P = Progress> = (ev: P) => void;

/** One training step's progress, emitted by `train` after every step. */
export interface TrainProgressEvent {
  /** Steps completed (1-based: the first event has step 1; counts resumed steps too). */
  step: number;
  /** Total steps of the run. */
  steps: number;
  /** This step's loss. */
  loss: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Smoothed images per second; null when the batch size is unknown. */
  imagesPerSec: number | null;
  /** Smoothed optimiser steps per second. */
  stepsPerSec: number;
  /** Seconds left at the smoothed rate. */
  etaSeconds: number;
  /** Seconds since this `train` call started. */
  elapsedSeconds: number;
  /** Extra scalars returned by the loss function (plus 'grad_norm' when clipping). */
  logs: Record<string, number>;
}

/** Options of {@link EtaMeter}. */
export interface EtaMeterOptions {
  /** Units in all (Infinity when unknown). */
  total: number;
  /** Units already done when the meter starts (a resumed run). Default 0. */
  start?: number;
  /** Weight of the newest measurement in the moving averages, in (0, 1]. Default 0.1. */
  smoothing?: number;
  /** Clock in milliseconds. Default `performance.now()`. */
  now?: () => number;
}

/**
 * Rate and ETA from exponential moving averages of the units done and the time taken between updates
 * (tqdm's scheme, bias-corrected), so one slow first step (kernel compilation, warm-up) fades out.
 */
export class EtaMeter {
  readonly total: number;
  private readonly smoothing: number;
  private readonly now: () => number;
  private readonly t0: number;
  private lastT: number;
  private lastDone: number;
  private avgUnits = 0;
  private avgSeconds = 0;
  private weight = 0;

  constructor(opts: EtaMeterOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('EtaMeter: options object expected');
    if (typeof opts.total !== 'number' || Number.isNaN(opts.total) || opts.total < 0) {
      throw new RangeError(`EtaMeter: total must be a number >= 0 (or Infinity), got ${opts.total}`);
    }
    const start = opts.start ?? 0;
    checkNumber(start, 'EtaMeter: start', 'a finite number >= 0');
    const smoothing = opts.smoothing ?? 0.1;
    if (!(smoothing > 0 && smoothing <= 1))
      throw new RangeError(`EtaMeter: smoothing must be in (0, 1], got ${smoothing}`);
    this.total = opts.total;
    this.smoothing = smoothing;
    this.now = opts.now ?? defaultNow;
    this.t0 = this.now();
    this.lastT = this.t0;
    this.lastDone = start;
  }

  /** Record that `done` units (cumulative) are complete now. */
  update(done: number): void {
    if (!Number.isFinite(done) || done < this.lastDone) {
      throw new RangeError(
        `EtaMeter.update: done must be finite and not decrease (last ${this.lastDone}), got ${done}`,
      );
    }
    const t = this.now();
    const a = this.smoothing;
    this.avgUnits = a * (done - this.lastDone) + (1 - a) * this.avgUnits;
    this.avgSeconds = a * ((t - this.lastT) / 1000) + (1 - a) * this.avgSeconds;
    this.weight = a + (1 - a) * this.weight;
    this.lastDone = done;
    this.lastT = t;
  }

  /** Units done at the last update. */
  get done(): number {
    return this.lastDone;
  }

  /** Smoothed units per second (0 before the first update with elapsed time). */
  get rate(): number {
    if (this.weight === 0 || this.avgSeconds <= 0) return 0;
    // The bias corrections of both averages cancel in the ratio.
    return this.avgUnits / this.avgSeconds;
  }

  /** Seconds left at the smoothed rate (Infinity while the rate is unknown). */
  get etaSeconds(): number {
    const left = Math.max(0, this.total - this.lastDone);
    if (left === 0) return 0;
    const r = this.rate;
    return r > 0 ? left / r : Number.POSITIVE_INFINITY;
  }

  /** Seconds since construction. */
  get elapsedSeconds(): number {
    return (this.now() - this.t0) / 1000;
  }

  /** The meter's state as a {@link Progress} event of `phase`. */
  progress(phase: string): Progress {
    return {
      phase,
      done: this.lastDone,
      total: this.total,
      rate: this.rate,
      etaSeconds: this.etaSeconds,
      elapsedSeconds: this.elapsedSeconds,
    };
  }
}

function defaultNow(): number {
  return globalThis.performance?.now?.() ?? Date.now();
}
