/**
 * The reference training recipe (the authors' `VMAE/train_ae.sh`) as plain options: stage 1
 * (masked pre-training at 128 px), stage 2 (positional embeddings resized to 256 px, see
 * `VMAE.setImageSize`) and stage 3 (decoder fine-tune at 256 px without masking).
 */
import type { VMAEKlForm } from './vmae.js';

/** One stage's loss weights and optimiser settings. */
export interface VMAERecipe {
  stage: 1 | 3;
  /** Fraction of tokens removed from the encoder's input. */
  maskRatio: number;
  /** v in (1 - v) L_M + v L_R. */
  visibleWeight: number;
  /** lambda_kl (0 = no KL term). */
  klWeight: number;
  klForm: VMAEKlForm;
  /** lambda_P, applied when an LPIPS function is given. */
  lpipsWeight: number;
  /** Decode a posterior sample (true) or its mean (false). */
  sample: boolean;
  /** Base learning rate; the actual one is blr * batch / 256. */
  blr: number;
  betas: [number, number];
  /** AdamW weight decay (not on biases, norms, positional embeddings or the mask token). */
  weightDecay: number;
  /** Share of the steps spent in linear warm-up (10 of 400 epochs in stage 1). */
  warmupFraction: number;
  /** End of the half-cosine. */
  minLr: number;
  /** Image size the reference trains this stage at (informative; the data decides). */
  imgSize: number;
}

/**
 * Stage 1, the released script's values: mask 0.25, v = 0.75, lambda_P = 0.5, lambda_kl = 1e-6,
 * AdamW (0.9, 0.95), weight decay 0.05, blr 1e-4, 10 warm-up epochs of 400 then half-cosine to 0.
 * The KL is the paper's unit-variance form; the script's is {@link RELEASED_KL_FORM}.
 */
export const VMAE_STAGE1: Readonly<VMAERecipe> = Object.freeze({
  stage: 1,
  maskRatio: 0.25,
  visibleWeight: 0.75,
  klWeight: 1e-6,
  klForm: 'unit-variance',
  lpipsWeight: 0.5,
  sample: true,
  blr: 1e-4,
  betas: [0.9, 0.95] as [number, number],
  weightDecay: 0.05,
  warmupFraction: 10 / 400,
  minLr: 0,
  imgSize: 128,
});

/**
 * Stage 3: no masking, loss = MSE + 10 * LPIPS, no KL, blr 1e-5, no warm-up. The reference decodes
 * the posterior mean here (its `reconstruct` uses the mode when the mask ratio is 0), and trains the
 * whole model (a comment says the encoder is frozen; the code path that freezes it does not run).
 * With maskRatio 0 the visible-patch term is the full-image MSE, so visibleWeight is 1.
 */
export const VMAE_STAGE3: Readonly<VMAERecipe> = Object.freeze({
  stage: 3,
  maskRatio: 0,
  visibleWeight: 1,
  klWeight: 0,
  klForm: 'unit-variance',
  lpipsWeight: 10,
  sample: false,
  blr: 1e-5,
  betas: [0.9, 0.95] as [number, number],
  weightDecay: 0.05,
  warmupFraction: 0,
  minLr: 0,
  imgSize: 256,
});

/** The KL form of the released training script (--fixed_std 1e-3: target variance 1e-6). */
export const RELEASED_KL_FORM: VMAEKlForm = Object.freeze({ fixedStd: 1e-3 });

/** The recipe of `stage` with overrides applied. */
export function vmaeRecipe(stage: 1 | 3, overrides: Partial<Omit<VMAERecipe, 'stage'>> = {}): VMAERecipe {
  if (stage !== 1 && stage !== 3) throw new RangeError(`vmaeRecipe: stage must be 1 or 3, got ${stage}`);
  const base = stage === 1 ? VMAE_STAGE1 : VMAE_STAGE3;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...base, betas: [...base.betas] as [number, number], ...defined, stage };
}

/** MAE's linear scaling rule: lr = blr * batch / 256 (batch = the effective batch of one step). */
export function scaledLr(blr: number, batchSize: number): number {
  if (!(Number.isFinite(blr) && blr >= 0)) throw new RangeError(`scaledLr: blr must be >= 0, got ${blr}`);
  if (!(Number.isFinite(batchSize) && batchSize > 0))
    throw new RangeError(`scaledLr: batchSize must be > 0, got ${batchSize}`);
  return (blr * batchSize) / 256;
}

/**
 * The reference's training augmentation as data: RandomResizedCrop(size, scale 0.75..1, bicubic), then
 * a horizontal flip with probability `flip`. Build it with @ldmae/data (seeded per sample by its loader):
 * `compose(randomResizedCrop(size, VMAE_AUGMENTATION.crop), randomHorizontalFlip(VMAE_AUGMENTATION.flip))`.
 */
export const VMAE_AUGMENTATION = Object.freeze({
  crop: Object.freeze({ scale: [0.75, 1] as [number, number], interpolation: 'bicubic' as const }),
  flip: 0.5,
});
