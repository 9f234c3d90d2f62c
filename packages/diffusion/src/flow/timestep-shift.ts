/**
 * LightningDiT's sampling-time shift t' = s t / (1 + (s - 1) t) on rectified-flow time (t = 0 noise,
 * t = 1 data). It maps [0, 1] onto itself, fixes both ends and is increasing; s < 1 packs the grid
 * towards the noise end (the paper samples with s = 0.3), s = 1 is the identity.
 */

function checkShift(s: number, where: string): void {
  if (!(Number.isFinite(s) && s > 0))
    throw new RangeError(`${where}: shift must be a finite number > 0, got ${s}`);
}

/** t' = s t / (1 + (s - 1) t) for t in [0, 1] and shift s > 0. */
export function shiftTimestep(t: number, shift: number): number {
  checkShift(shift, 'shiftTimestep');
  if (!(t >= 0 && t <= 1)) throw new RangeError(`shiftTimestep: t must be in [0, 1], got ${t}`);
  // Exact at the data end, where s / s can round below 1.
  return t === 1 ? 1 : (shift * t) / (1 + (shift - 1) * t);
}

/** The inverse map: t = t' / (s + (1 - s) t'), i.e. {@link shiftTimestep} with 1 / s. */
export function unshiftTimestep(tShifted: number, shift: number): number {
  checkShift(shift, 'unshiftTimestep');
  return shiftTimestep(tShifted, 1 / shift);
}

/**
 * The sampling grid: n + 1 points linspace(0, 1, n + 1), each shifted. (The reference builds
 * linspace(0, 1, num_steps) and integrates between consecutive points, so its `num_sampling_steps:
 * 250` is n = 249 here.)
 */
export function shiftedTimeGrid(n: number, shift = 1): Float64Array {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`shiftedTimeGrid: n must be an integer >= 1, got ${n}`);
  checkShift(shift, 'shiftedTimeGrid');
  const g = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) g[i] = shiftTimestep(i / n, shift);
  g[n] = 1;
  return g;
}
