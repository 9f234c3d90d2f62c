/**
 * Learning-rate schedules as pure functions of the 0-based iteration (the number of optimiser steps
 * already taken), so a resumed run gets the same rate for the same step.
 */
import { checkNumber } from '../checks.js';

/** A learning-rate schedule: 0-based iteration -> learning rate. */
export type LrSchedule = (step: number) => number;

/** Options of {@link warmupCosineLr}. */
export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of the warm-up. */
  baseLr: number;
  /** Final learning rate of the cosine. Default 0. */
  minLr?: number;
  /** Iterations of linear warm-up from 0. Default 0. */
  warmupSteps?: number;
  /** Iterations of the whole schedule (warm-up included); must exceed `warmupSteps`. */
  totalSteps: number;
}

/**
 * The learning rate at iteration `step` of MAE's schedule (util/lr_sched.py `adjust_learning_rate`,
 * called per iteration): `baseLr * step / warmupSteps` during the warm-up, then
 * `minLr + (baseLr - minLr) * 0.5 * (1 + cos(pi * (step - warmupSteps) / (totalSteps - warmupSteps)))`.
 * Iterations at or past `totalSteps` get `minLr` (MAE never reaches them; the cosine would rise again).
 * Fractional steps are allowed (MAE passes epoch + iteration / iterations_per_epoch).
 */
export function warmupCosineLrAt(step: number, opts: WarmupCosineOptions): number {
  const { baseLr, minLr, warmupSteps, totalSteps } = checkWarmupCosine(opts);
  checkNumber(step, 'warmupCosineLrAt: step', 'a finite number >= 0');
  if (step < warmupSteps) return (baseLr * step) / warmupSteps;
  if (step >= totalSteps) return minLr;
  const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
  return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** {@link warmupCosineLrAt} as an {@link LrSchedule}; the options are checked once, here. */
export function warmupCosineLr(opts: WarmupCosineOptions): LrSchedule {
  const checked = checkWarmupCosine(opts);
  return (step) => warmupCosineLrAt(step, checked);
}

/** Options of {@link constantLr}. */
export interface ConstantLrOptions {
  lr: number;
  /** Iterations of linear warm-up from 0 (`lr * step / warmupSteps`). Default 0. */
  warmupSteps?: number;
}

/** A constant learning rate (DiT's 1e-4), optionally after a linear warm-up. Accepts a bare number. */
export function constantLr(opts: ConstantLrOptions | number): LrSchedule {
  const o = typeof opts === 'number' ? { lr: opts } : opts;
  const lr = checkNumber(o?.lr, 'constantLr: lr', 'a finite number >= 0');
  const warmupSteps = checkNumber(o.warmupSteps ?? 0, 'constantLr: warmupSteps', 'a finite number >= 0');
  return (step) => {
    checkNumber(step, 'constantLr schedule: step', 'a finite number >= 0');
    return step < warmupSteps ? (lr * step) / warmupSteps : lr;
  };
}

function checkWarmupCosine(opts: WarmupCosineOptions): Required<WarmupCosineOptions> {
  if (!opts || typeof opts !== 'object') throw new TypeError('warmupCosineLr: options object expected');
  const baseLr = checkNumber(opts.baseLr, 'warmupCosineLr: baseLr', 'a finite number >= 0');
  const minLr = checkNumber(opts.minLr ?? 0, 'warmupCosineLr: minLr', 'a finite number >= 0');
  const warmupSteps = checkNumber(
    opts.warmupSteps ?? 0,
    'warmupCosineLr: warmupSteps',
    'a finite number >= 0',
  );
  const totalSteps = checkNumber(opts.totalSteps, 'warmupCosineLr: totalSteps', 'a finite number >= 0');
  if (!(totalSteps > warmupSteps)) {
    throw new RangeError(
      `warmupCosineLr: totalSteps (${totalSteps}) must exceed warmupSteps (${warmupSteps})`,
    );
  }
  return { baseLr, minLr, warmupSteps, totalSteps };
}
