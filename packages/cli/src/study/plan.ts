/**
 * What a study trains and how its budget is shared: the autoencoders of the paper's comparison (each
 * with its own objective), the VMAE ablation, and step counts under one budget rule.
 */
import type { AutoencoderKind } from '../autoencoders.js';
import { STEP_HEADROOM } from '../steps/calibrate.js';

/** The paper's comparison, in its tables' order. */
export const STUDY_MODELS: readonly AutoencoderKind[] = ['ae', 'dae', 'vae', 'sd-vae', 'vmae'];

/** How training budgets are made equal: equal wall time (default) or equal images seen. */
export type BudgetRule = 'time' | 'images';

/** One autoencoder training of a study. */
export interface StudyRunSpec {
  /** Folder name and key in the tables, e.g. 'vmae', 'vmae-mse', 'ae-s2'. */
  id: string;
  /** Row name in the tables without the seed, e.g. 'VMAE', '+ Masking loss'. */
  row: string;
  kind: AutoencoderKind;
  /** 'models' (Tables 1-3) or 'ablation' (Table 4); the full VMAE belongs to both. */
  groups: ('models' | 'ablation')[];
  seed: number;
  /** VMAE objective terms: masked fraction, KL weight (0 = none), perceptual weight (0 = none). */
  maskRatio?: number;
  klWeight?: number;
  lpipsWeight: number;
}

/** The VMAE recipe (spec/vmae.md): mask ratio 0.25, lambda_kl 1e-6, lambda_P 0.5. */
export const VMAE_RECIPE = { maskRatio: 0.25, klWeight: 1e-6, lpipsWeight: 0.5 } as const;
/** The SD-VAE's perceptual weight (LDM's LPIPSWithDiscriminator: 1.0). */
export const SDVAE_PERCEPTUAL = 1;

const ROW: Record<AutoencoderKind, string> = {
  ae: 'AE',
  dae: 'DAE',
  vae: 'VAE',
  'sd-vae': 'SD-VAE',
  vmae: 'VMAE',
};

/** Table 4's rows before the full VMAE: each adds one term. */
const ABLATION = [
  { suffix: 'mse', row: 'Baseline (MSE)', maskRatio: 0, klWeight: 0, lpipsWeight: 0 },
  { suffix: 'mask', row: '+ Masking loss', maskRatio: VMAE_RECIPE.maskRatio, klWeight: 0, lpipsWeight: 0 },
  {
    suffix: 'kl',
    row: '+ Latent regularizer',
    maskRatio: VMAE_RECIPE.maskRatio,
    klWeight: VMAE_RECIPE.klWeight,
    lpipsWeight: 0,
  },
] as const;

/**
 * The trainings of a study: each model of `models`, then (with `ablation`) the VMAE without the
 * perceptual term, without KL and without masking; the full VMAE is the ablation's last row. Repeated
 * for seeds 0 .. seeds - 1 (ids of seed s > 0 end in `-s<s+1>`).
 */
export function studyRuns(
  models: readonly AutoencoderKind[],
  ablation: boolean,
  seeds: number,
): StudyRunSpec[] {
  const out: StudyRunSpec[] = [];
  for (let s = 0; s < seeds; s++) {
    const tag = s === 0 ? '' : `-s${s + 1}`;
    const withVmae = ablation && !models.includes('vmae') ? [...models, 'vmae' as const] : models;
    for (const kind of withVmae) {
      const groups: StudyRunSpec['groups'] = [];
      if (models.includes(kind)) groups.push('models');
      if (kind === 'vmae' && ablation) groups.push('ablation');
      out.push({
        id: `${kind}${tag}`,
        row: kind === 'vmae' && !models.includes('vmae') ? '+ Perceptual loss' : ROW[kind],
        kind,
        groups,
        seed: s,
        ...(kind === 'vmae' ? { maskRatio: VMAE_RECIPE.maskRatio, klWeight: VMAE_RECIPE.klWeight } : {}),
        lpipsWeight: kind === 'vmae' ? VMAE_RECIPE.lpipsWeight : kind === 'sd-vae' ? SDVAE_PERCEPTUAL : 0,
      });
    }
    if (ablation)
      for (const a of ABLATION)
        out.push({
          id: `vmae-${a.suffix}${tag}`,
          row: a.row,
          kind: 'vmae',
          groups: ['ablation'],
          seed: s,
          maskRatio: a.maskRatio,
          klWeight: a.klWeight,
          lpipsWeight: a.lpipsWeight,
        });
  }
  return out;
}

/** Runs whose training step costs the same (same kind and the same objective terms' cost). */
export function costClass(r: StudyRunSpec): string {
  if (r.kind === 'vmae') return r.lpipsWeight > 0 ? 'vmae+lpips' : 'vmae';
  return r.kind === 'sd-vae' ? 'sd-vae' : 'kl-ae';
}

/** Shares of the budget: autoencoder training, diffusion training; the rest is encoding and evaluation. */
export const STUDY_SHARES = { ae: 0.35, ldm: 0.3 } as const;

/**
 * Autoencoder steps per run. 'time': every run trains for the same wall time (`seconds` / runs, on a
 * clock), so its steps are the most it may take, 1.5 times what fits at its calibrated speed;
 * 'images': every run takes the same number of steps (so sees the same images), the most that fits
 * `seconds` in all. At least `min` steps each.
 */
export function planAeSteps(
  rule: BudgetRule,
  seconds: number,
  stepSeconds: Record<string, number>,
  min = 2,
): Record<string, number> {
  const ids = Object.keys(stepSeconds);
  const out: Record<string, number> = {};
  const clock = aeClockSeconds(rule, seconds, ids);
  if (clock) {
    for (const id of ids) out[id] = Math.max(min, Math.floor((STEP_HEADROOM * clock[id]) / stepSeconds[id]));
  } else {
    const total = ids.reduce((s, id) => s + stepSeconds[id], 0);
    const steps = Math.max(min, Math.floor(seconds / Math.max(total, 1e-9)));
    for (const id of ids) out[id] = steps;
  }
  return out;
}

/**
 * The wall-clock seconds of each autoencoder's training: under the 'time' rule `seconds` / runs each
 * (the training stops then, its schedule following its clock), none under 'images'.
 */
export function aeClockSeconds(
  rule: BudgetRule,
  seconds: number,
  ids: readonly string[],
): Record<string, number> | undefined {
  if (rule !== 'time') return undefined;
  const each = seconds / Math.max(1, ids.length);
  return Object.fromEntries(ids.map((id) => [id, each]));
}

/**
 * Evaluation images per metric: what fits `seconds` per run given the feature extractor's and the
 * sampler's seconds per image (reconstruction pairs, the six-point noise curve on half as many, the
 * generated samples), within [50, min(500, available)].
 */
export function planEvalImages(o: {
  seconds: number;
  extractorSeconds: number;
  sampleSeconds: number;
  epsCount: number;
  available: number;
}): number {
  const perImage =
    2 * o.extractorSeconds + (o.epsCount / 2) * o.extractorSeconds + o.sampleSeconds + o.extractorSeconds;
  const n = Math.floor(o.seconds / Math.max(perImage, 1e-9));
  return Math.max(50, Math.min(n, 500, o.available));
}
