/**
 * Learning-rate schedules as pure functions of the 0-based iteration (the number of optimiser steps
 * already taken), so a resumed run gets the same rate for the same step.
 */

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
  checkStep(step, 'warmupCosineLrAt: step');
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
  const lr = checkRate(o?.lr, 'constantLr: lr');
  const warmupSteps = checkStep(o.warmupSteps ?? 0, 'constantLr: warmupSteps');
  return (step) => {
    checkStep(step, 'constantLr schedule: step');
    return step < warmupSteps ? (lr * step) / warmupSteps : lr;
  };
}

function checkWarmupCosine(opts: WarmupCosineOptions): Required<WarmupCosineOptions> {
  if (!opts || typeof opts !== 'object') throw new TypeError('warmupCosineLr: options object expected');
  const baseLr = checkRate(opts.baseLr, 'warmupCosineLr: baseLr');
  const minLr = checkRate(opts.minLr ?? 0, 'warmupCosineLr: minLr');
  const warmupSteps = checkStep(opts.warmupSteps ?? 0, 'warmupCosineLr: warmupSteps');
  const totalSteps = checkStep(opts.totalSteps, 'warmupCosineLr: totalSteps');
  if (!(totalSteps > warmupSteps)) {
    throw new RangeError(
      `warmupCosineLr: totalSteps (${totalSteps}) must exceed warmupSteps (${warmupSteps})`,
    );
  }
  return { baseLr, minLr, warmupSteps, totalSteps };
}

function checkRate(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`${where} must be a finite number >= 0, got ${v}`);
  }
  return v;
}

function checkStep(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`${where} must be a finite number >= 0, got ${v}`);
  }
  return v;
}
