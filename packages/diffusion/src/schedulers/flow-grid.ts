/** The time grid of the flow ODE solvers: n + 1 points from noise (t = 0) to data (t = 1). */
import { shiftedTimeGrid } from '../flow/timestep-shift.js';
import type { UserTimesteps } from './scheduler.js';

/**
 * n steps: the shifted linspace(0, 1, n + 1). Explicit timesteps: strictly increasing times in
 * [0, 1), the points where the model is evaluated; the grid ends at 1 (data).
 */
export function flowGrid(steps: number | UserTimesteps, shift: number, where: string): Float64Array {
  if (typeof steps === 'number') {
    if (!Number.isInteger(steps) || steps < 1)
      throw new RangeError(`${where}: steps must be an integer >= 1, got ${steps}`);
    return shiftedTimeGrid(steps, shift);
  }
  const ts = steps?.timesteps;
  if (!ts || typeof ts.length !== 'number' || ts.length < 1) {
    throw new TypeError(`${where}: timesteps must be a non-empty array of times in [0, 1)`);
  }
  const g = new Float64Array(ts.length + 1);
  for (let i = 0; i < ts.length; i++) {
    const v = ts[i];
    if (!(v >= 0 && v < 1))
      throw new RangeError(`${where}: timesteps must be in [0, 1) (0 = noise), got ${v}`);
    if (i > 0 && !(v > ts[i - 1]))
      throw new RangeError(
        `${where}: timesteps must increase strictly (noise to data), got ${ts[i - 1]} then ${v}`,
      );
    g[i] = v;
  }
  g[ts.length] = 1;
  return g;
}

/** Validate a flow scheduler's shift. */
export function checkFlowShift(shift: number, where: string): number {
  if (!(Number.isFinite(shift) && shift > 0))
    throw new RangeError(`${where}: shift must be a finite number > 0, got ${shift}`);
  return shift;
}
