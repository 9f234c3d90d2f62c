/**
 * A training run's progress when it has a wall-clock budget: the larger of the steps done and the
 * share of the budget used. The schedule is read at that progress, so a run whose steps take longer
 * than planned still warms up, decays and ends on time, and one that runs faster ends at `steps`.
 */
import type { CheckpointPayload } from './checkpoint-payload.js';

/** Metadata key of a checkpoint's progress (a number in [0, 1], written by runs with a budget). */
export const PROGRESS_METADATA_KEY = 'progress';

/** Progress of one `train` call over `steps` steps and (optionally) `maxSeconds` of wall time. */
export class RunProgress {
  /** Progress when this call started: the checkpoint's, else its step over `steps`. */
  private readonly start: number;

  /**
   * @param steps the run's most steps
   * @param startStep the step this call starts at (a resumed checkpoint's, else 0)
   * @param maxSeconds the whole run's budget; a call starting at progress p has `(1 - p) * maxSeconds`
   * @param resume the checkpoint this call resumes from, whose recorded progress wins over its step
   */
  constructor(
    private readonly steps: number,
    startStep: number,
    private readonly maxSeconds: number | undefined,
    resume?: CheckpointPayload,
  ) {
    const byStep = steps > 0 ? Math.min(1, startStep / steps) : 1;
    const saved = resume?.metadata[PROGRESS_METADATA_KEY];
    const p = saved === undefined ? Number.NaN : Number(saved);
    if (saved !== undefined && !(p >= 0 && p <= 1)) {
      throw new Error(
        `train: checkpoint metadata.${PROGRESS_METADATA_KEY} must be a number in [0, 1], got ${JSON.stringify(saved)}`,
      );
    }
    this.start = Number.isNaN(p) ? byStep : Math.max(p, byStep);
  }

  /** Share of the run done after `step` steps and `elapsedSeconds` of this call, in [0, 1]. */
  at(step: number, elapsedSeconds: number): number {
    const byStep = this.steps > 0 ? step / this.steps : 1;
    if (this.maxSeconds === undefined) return Math.min(1, byStep);
    const byTime = this.start + elapsedSeconds / this.maxSeconds;
    return Math.min(1, Math.max(byStep, byTime));
  }

  /** Whether the time budget is used up at `elapsedSeconds` (never without a budget). */
  timeUp(elapsedSeconds: number): boolean {
    return this.maxSeconds !== undefined && this.at(0, elapsedSeconds) >= 1;
  }

  /** The 0-based step the schedule is read at for step `step`: the one `progress` has reached. */
  scheduleStep(step: number, progress: number): number {
    return Math.max(step, Math.min(this.steps - 1, Math.floor(progress * this.steps)));
  }

  /** Seconds of the budget left at `elapsedSeconds` (Infinity without a budget). */
  secondsLeft(elapsedSeconds: number): number {
    if (this.maxSeconds === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(0, (1 - this.start) * this.maxSeconds - elapsedSeconds);
  }
}
