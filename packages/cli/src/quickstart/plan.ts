/**
 * The quickstart's time budget: how a number of minutes becomes training step counts and a number of
 * evaluation images, from speeds measured on the machine at hand.
 */

/** Shares of the budget for the two trainings; the rest goes to encoding, sampling, evaluation, report. */
export const BUDGET_SHARES = { ae: 0.3, ldm: 0.45 } as const;

/**
 * Share of a phase's budget that the timed steps are planned for: checkpoints, logging and slower
 * steps later in a run took 1-13 % more than the calibration steps here.
 */
export const CALIBRATION_MARGIN = 0.9;

/** Evaluation images per metric: at least this many (unless given), at most this many. */
export const EVAL_IMAGES_RANGE = [100, 500] as const;

/** Step counts and sizes derived from the budget (saved in config.json, reused by --resume). */
export interface QuickstartPlan {
  aeSteps: number;
  /** Measured seconds per VMAE step, or null when the steps were given. */
  aeStepSeconds: number | null;
  ldmSteps: number;
  ldmStepSeconds: number | null;
  evalImages: number;
  smoothnessImages: number;
  /** Measured seconds per image of the feature extractor, when the images were planned. */
  extractorSecondsPerImage?: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Steps that fit `seconds` at `stepSeconds` each (with the calibration margin), times `scale`, clamped
 * to [10, max].
 */
export function stepsForBudget(seconds: number, stepSeconds: number, scale = 1, max = 100_000): number {
  if (!(stepSeconds > 0)) throw new RangeError(`stepsForBudget: stepSeconds must be > 0, got ${stepSeconds}`);
  return Math.round(clamp((CALIBRATION_MARGIN * scale * Math.max(0, seconds)) / stepSeconds, 10, max));
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
