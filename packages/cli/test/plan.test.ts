import { describe, expect, it, vi } from 'vitest';
import {
  evalImagesForBudget,
  evalSecondsPerImage,
  FINISH_MARGIN_SECONDS,
  finishSeconds,
  stepsForBudget,
} from '../src/quickstart/plan.js';
import { medianCallSeconds, STEP_HEADROOM, TIMED_CALLS } from '../src/steps/calibrate.js';

describe('quickstart budget', () => {
  it('times a call as the median of the timed calls after a warm-up call', async () => {
    // A driven clock: each call advances it by its own duration (the warm-up's 100 s is not counted).
    const durations = [100, 5, 1, 3];
    let now = 0;
    let calls = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const seconds = await medianCallSeconds(async () => {
        now += durations[calls++] * 1000;
      });
      expect(TIMED_CALLS).toBe(3);
      expect(calls).toBe(1 + TIMED_CALLS);
      expect(seconds).toBe(3); // not the spike of 5 s, nor the warm-up
    } finally {
      clock.mockRestore();
    }
  });

  it('turns seconds and a measured step time into the most steps of a training on a clock', () => {
    // 180 s at 0.18 s per step: 1000 steps fit, and the clock may allow more on a faster machine.
    expect(STEP_HEADROOM).toBeGreaterThan(1);
    expect(stepsForBudget(180, 0.18)).toBe(Math.round(1000 * STEP_HEADROOM));
    expect(stepsForBudget(180, 0.18, 0.5)).toBe(Math.round(500 * STEP_HEADROOM));
    // Never fewer than 10 steps, never more than the cap.
    expect(stepsForBudget(-5, 0.1)).toBe(10);
    expect(stepsForBudget(1e6, 0.001, 1, 5000)).toBe(5000);
    expect(() => stepsForBudget(10, 0)).toThrow('stepSeconds must be > 0');
  });

  it('keeps for the end what the grid and the evaluation need at the measured speeds', () => {
    const speeds = { extractorSeconds: 0.02, sampleSeconds: 0.1, epsCount: 6 };
    // Per image: 0.02 * (4 + 7 / 2) + 0.1 + 0.01 = 0.26 s.
    expect(evalSecondsPerImage(speeds)).toBeCloseTo(0.26, 12);
    // 100 grid samples at 0.1 s, 500 images at 0.26 s, and the margin.
    expect(finishSeconds({ ...speeds, evalImages: 500, gridImages: 100 })).toBeCloseTo(
      10 + 130 + FINISH_MARGIN_SECONDS,
      9,
    );
    // What it keeps is what the evaluation planner then fits: the same 500 images.
    const kept = finishSeconds({ ...speeds, evalImages: 500, gridImages: 0 }) - FINISH_MARGIN_SECONDS;
    expect(evalImagesForBudget({ ...speeds, seconds: kept + 1e-9, available: 1000 }).evalImages).toBe(500);
  });

  it('fits the evaluation images to what is left of the budget', () => {
    const budget = { extractorSeconds: 0.02, sampleSeconds: 0.1, epsCount: 6, available: 999 };
    // Per image: 0.02 * (4 + 7 / 2) + 0.1 + 0.01 = 0.26 s; 78 s fit 300 images.
    expect(evalImagesForBudget({ ...budget, seconds: 78.1 })).toEqual({
      evalImages: 300,
      smoothnessImages: 150,
    });
    // Clamped to [100, 500] and to the images there are.
    expect(evalImagesForBudget({ ...budget, seconds: 1 }).evalImages).toBe(100);
    expect(evalImagesForBudget({ ...budget, seconds: 1e5 }).evalImages).toBe(500);
    expect(evalImagesForBudget({ ...budget, seconds: 1e5, available: 320 }).evalImages).toBe(320);
  });
});
