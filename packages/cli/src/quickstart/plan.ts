/**
 * The quickstart's time budget: how a number of minutes becomes training step counts and a number of
 * evaluation images, from speeds measured on the machine at hand.
 */
import { STEP_HEADROOM } from '../steps/calibrate.js';

/**
 * Shares of the budget for the two trainings. Each runs on a clock: the VMAE's ends `ae` of the budget
 * after the start, the diffusion model's `ae + ldm` after it (so it also gets what the VMAE left, and
 * encoding comes out of its share). The rest is sampling, evaluation at up to 500 images per metric
 * (about 29 % of 10 minutes on a 2-core machine) and the report.
 */
export const BUDGET_SHARES = { ae: 0.25, ldm: 0.44 } as const;

/** Evaluation images per metric: at least this many (unless given), at most this many. */
export const EVAL_IMAGES_RANGE = [100, 500] as const;

/** Step counts and sizes derived from the budget (saved in config.json, reused by --resume). */
export interface QuickstartPlan {
  /** VMAE steps: as given, or the most the budget plans (the clock of `aeSeconds` ends it first). */
  aeSteps: number;
  /** Measured seconds per VMAE step, or null when the steps were given. */
  aeStepSeconds: number | null;
  /** Wall-clock seconds of the VMAE training, or null when the steps were given. */
  aeSeconds: number | null;
  ldmSteps: number;
  ldmStepSeconds: number | null;
  ldmSeconds: number | null;
  evalImages: number;
  smoothnessImages: number;
  /** Measured seconds per image of the feature extractor, when the images were planned. */
  extractorSecondsPerImage?: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * The most steps of a training given `seconds` at `stepSeconds` each: what fits, with the
 * {@link STEP_HEADROOM}, times `scale`, clamped to [10, max].
 */
export function stepsForBudget(seconds: number, stepSeconds: number, scale = 1, max = 100_000): number {
  if (!(stepSeconds > 0)) throw new RangeError(`stepsForBudget: stepSeconds must be > 0, got ${stepSeconds}`);
  return Math.round(clamp((STEP_HEADROOM * scale * Math.max(0, seconds)) / stepSeconds, 10, max));
}

/**
 * Images per metric that fit `seconds`: each of the n images costs 2 extractions for reconstruction,
 * 2 for generation, one sample, and the smoothness curve (n / 2 images) (eps + 1) extractions.
 * Clamped to {@link EVAL_IMAGES_RANGE} and to the images available.
 */
export function evalImagesForBudget(o: {
  seconds: number;
  extractorSeconds: number;
  sampleSeconds: number;
  epsCount: number;
  available: number;
}): { evalImages: number; smoothnessImages: number } {
  const perImage = o.extractorSeconds * (4 + (o.epsCount + 1) / 2) + o.sampleSeconds + 0.01;
  const fit = Math.floor(Math.max(0, o.seconds) / perImage);
  const evalImages = clamp(fit, EVAL_IMAGES_RANGE[0], Math.min(EVAL_IMAGES_RANGE[1], o.available));
  return { evalImages, smoothnessImages: Math.max(2, Math.round(evalImages / 2)) };
}
