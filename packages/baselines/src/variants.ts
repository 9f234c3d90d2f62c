/** The four baselines of the paper as configurations of one AutoencoderKL. */
import { AutoencoderKL, type AutoencoderKLOptions, type PosteriorKind } from './autoencoder-kl.js';
import { resolveAutoencoderKLPresetName } from './config.js';

/** The baselines of the paper (Tables 1 and 3, Figs. 2, 6, 7). */
export type BaselineKind = 'ae' | 'dae' | 'vae' | 'sd-vae';

/** Every {@link BaselineKind}, in the paper's order. */
export const BASELINE_KINDS: readonly BaselineKind[] = Object.freeze(['ae', 'dae', 'vae', 'sd-vae']);

/** The posterior each baseline's encoder returns: AE and DAE are deterministic. */
export const BASELINE_POSTERIOR: Readonly<Record<BaselineKind, PosteriorKind>> = Object.freeze({
  ae: 'deterministic',
  dae: 'deterministic',
  vae: 'gaussian',
  'sd-vae': 'gaussian',
});

/** Throws a RangeError unless `kind` is a {@link BaselineKind}. */
export function checkBaselineKind(kind: unknown, where: string): asserts kind is BaselineKind {
  if (!BASELINE_KINDS.includes(kind as BaselineKind)) {
    throw new RangeError(`${where}: kind must be one of ${BASELINE_KINDS.join(', ')}, got '${String(kind)}'`);
  }
}

/** `v` when it is a finite number >= `min`; a RangeError naming the option (`label`) otherwise. */
export function finiteAtLeast(v: number, label: string, min = 0): number {
  if (!(Number.isFinite(v) && v >= min))
    throw new RangeError(`${label} must be a finite number >= ${min}, got ${v}`);
  return v;
}

/**
 * A baseline autoencoder: the same AutoencoderKL for all four, named after the kind, with a
 * zero-variance posterior for 'ae' and 'dae'. What makes them differ is the training objective
 * (`createObjective`).
 *
 * Without `preset` or a full `config` it is {@link DEFAULT_BASELINE_PRESET} ('f4d4-tiny': 242,235
 * parameters, for a CPU and 28 or 32 px images). The paper's baselines (the configuration the
 * authors' code builds for ae / dae / vae / sdv3, 83,819,683 parameters) are `preset: 'sd3-f8d16'`.
 *
 * @example
 * const vae = createBaseline('vae', { seed: 1 });                        // f4d4-tiny
 * const paper = createBaseline('vae', { preset: 'sd3-f8d16', seed: 1 }); // the paper's baseline
 * @throws RangeError for an unknown `kind`, or naming `opts.preset` and listing the presets.
 */
export function createBaseline(
  kind: BaselineKind,
  opts: Omit<AutoencoderKLOptions, 'posterior'> = {},
): AutoencoderKL {
  checkBaselineKind(kind, 'createBaseline');
  const o = opts ?? {};
  const preset =
    o.preset === undefined
      ? undefined
      : resolveAutoencoderKLPresetName(o.preset, 'createBaseline: opts.preset');
  return new AutoencoderKL({
    ...o,
    ...(preset !== undefined ? { preset } : {}),
    posterior: BASELINE_POSTERIOR[kind],
    name: o.name ?? kind,
  });
}
