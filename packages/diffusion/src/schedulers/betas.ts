/** Noise schedules of discrete-time diffusion (DDPM / DDIM) and the choice of sampling steps. */
import type { BetaScheduleName, TimestepSpacing } from './scheduler.js';

/**
 * guided-diffusion's `get_named_beta_schedule` in float64:
 * - 'linear': linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T) (Ho et al., rescaled for any T);
 * - 'cosine': beta_i = min(1 - abar((i + 1) / T) / abar(i / T), 0.999) with
 *   abar(s) = cos((s + 0.008) / 1.008 * pi / 2)^2 (Nichol & Dhariwal).
 */
export function betaSchedule(name: BetaScheduleName, numTrainTimesteps: number): Float64Array {
  const T = numTrainTimesteps;
  if (!Number.isInteger(T) || T < 2)
    throw new RangeError(`betaSchedule: numTrainTimesteps must be an integer >= 2, got ${T}`);
  const out = new Float64Array(T);
  if (name === 'linear') {
    const scale = 1000 / T;
    const lo = scale * 0.0001;
    const hi = scale * 0.02;
    if (hi >= 1)
      throw new RangeError(
        `betaSchedule: the linear schedule needs numTrainTimesteps >= 21 (beta_T = 20 / T), got ${T}`,
      );
    for (let i = 0; i < T; i++) out[i] = lo + ((hi - lo) * i) / (T - 1);
    return out;
  }
  if (name === 'cosine') {
    const abar = (s: number) => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (let i = 0; i < T; i++) out[i] = Math.min(1 - abar((i + 1) / T) / abar(i / T), 0.999);
    return out;
  }
  throw new TypeError(`betaSchedule: name must be 'linear' or 'cosine', got ${JSON.stringify(name)}`);
}

/** Cumulative products alpha_bar_t = prod_{s <= t} (1 - beta_s), float64. */
export function alphasCumprod(betas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(betas.length);
  let p = 1;
  for (let i = 0; i < betas.length; i++) {
    p *= 1 - betas[i];
    out[i] = p;
  }
  return out;
}

/** Python's round(): halves go to the even neighbour (numpy's np.round does the same). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * n of the T training steps, in sampling order (decreasing):
 * - 'linspace': guided-diffusion's `space_timesteps(T, [n])`, round(i (T - 1) / (n - 1)), i < n, both
 *   ends included (DiT's sampler);
 * - 'leading': diffusers' i * floor(T / n) (the DDIM paper's stride; ends at 0, starts below T - 1);
 * - 'trailing': diffusers' round(T - i T / n) - 1 (starts at T - 1).
 */
export function spacedTimesteps(
  numTrainTimesteps: number,
  n: number,
  spacing: TimestepSpacing = 'linspace',
): number[] {
  const T = numTrainTimesteps;
  if (!Number.isInteger(n) || n < 1 || n > T)
    throw new RangeError(`spacedTimesteps: steps must be an integer in [1, ${T}], got ${n}`);
  let asc: number[];
  if (spacing === 'linspace') {
    const stride = n > 1 ? (T - 1) / (n - 1) : 1;
    asc = Array.from({ length: n }, (_, i) => roundHalfEven(i * stride));
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    asc = Array.from({ length: n }, (_, i) => i * ratio);
  } else if (spacing === 'trailing') {
    const ratio = T / n;
    asc = Array.from({ length: n }, (_, i) => roundHalfEven(T - i * ratio) - 1).reverse();
  } else {
    throw new TypeError(
      `spacedTimesteps: spacing must be 'linspace', 'leading' or 'trailing', got ${JSON.stringify(spacing)}`,
    );
  }
  return [...new Set(asc)].sort((a, b) => b - a);
}
