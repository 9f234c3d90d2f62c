/**
 * The quickstart's time budget: how a number of minutes becomes training step counts and a number of
 * evaluation images, from speeds measured on the machine at hand.
 */
import { STEP_HEADROOM } from '../steps/calibrate.js';

/**
 * Shares of the budget for the two trainings, each on a clock. The VMAE's clock ends `ae` of the
 * budget after the start. The diffusion model's ends `ae + ldm` after the start (so it gets what the
 * VMAE left and pays for encoding), or later when the sample grid and the evaluation need less than
 * the rest at the speeds measured just before it ({@link finishSeconds}); it trains at least half of
 * `ldm` whatever happened before. Where the evaluation needs more than the rest, the evaluation
 * planner takes fewer images.
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
  /** Seconds kept for sampling and evaluation when the diffusion model's clock was planned. */
  finishSeconds?: number;
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

/** Measured speeds the evaluation's cost follows. */
export interface EvalSpeeds {
  /** Seconds per image of the feature extractor. */
  extractorSeconds: number;
  /** Seconds per sampled image. */
  sampleSeconds: number;
  /** Points of the smoothness curve. */
  epsCount: number;
}

/**
 * Seconds of evaluation per image of n: 2 extractions for reconstruction, 2 for generation, one
 * sample, and the smoothness curve (n / 2 images) (eps + 1) extractions.
 */
export function evalSecondsPerImage(o: EvalSpeeds): number {
  return o.extractorSeconds * (4 + (o.epsCount + 1) / 2) + o.sampleSeconds + 0.01;
}

/** Seconds after the trainings for loading the networks and writing the files and the report. */
export const FINISH_MARGIN_SECONDS = 10;

/**
 * Seconds the quickstart needs after its trainings: the sample grid of `gridImages`, the evaluation at
 * `evalImages` per metric, and {@link FINISH_MARGIN_SECONDS}.
 */
export function finishSeconds(o: EvalSpeeds & { evalImages: number; gridImages: number }): number {
  return o.gridImages * o.sampleSeconds + o.evalImages * evalSecondsPerImage(o) + FINISH_MARGIN_SECONDS;
}

/**
 * Images per metric that fit `seconds` at {@link evalSecondsPerImage}, clamped to
 * {@link EVAL_IMAGES_RANGE} and to the images available.
 */
export function evalImagesForBudget(o: EvalSpeeds & { seconds: number; available: number }): {
  evalImages: number;
  smoothnessImages: number;
} {
  const fit = Math.floor(Math.max(0, o.seconds) / evalSecondsPerImage(o));
  const evalImages = clamp(fit, EVAL_IMAGES_RANGE[0], Math.min(EVAL_IMAGES_RANGE[1], o.available));
  return { evalImages, smoothnessImages: Math.max(2, Math.round(evalImages / 2)) };
}
