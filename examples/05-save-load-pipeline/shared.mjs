// What both scripts share: the sampling request and the check helper.

/** Two samples of each digit, 10 Euler steps, guidance 2, seed 7. */
export const SAMPLE = {
  n: 20,
  classes: Array.from({ length: 20 }, (_, i) => i % 10),
  steps: 10,
  cfg: 2,
  seed: 7,
};

/** @param {boolean} ok @param {string} what */
export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}
