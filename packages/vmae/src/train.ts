/**
 * `trainVMAE`: the reference recipe (stage 1 or 3) on core's `train()` loop: scaled learning rate,
 * warm-up + half-cosine, AdamW (0.9, 0.95) with decay on matrices only, every loss term logged,
 * atomic checkpoints and exact resume (model, optimiser, step, masking / sampling generator).
 */
import {
  type AdamW,
  type AdamWOptions,
  type BatchLoader,
  type CheckpointPayload,
  canReadSync,
  checkImageBatchSource,
  createRng,
  type ImageBatch,
  type ImageBatchSource,
  type LossFn,
  type Rng,
  readImageBatches,
  type TrainCheckpointOptions,
  type TrainResult,
  type TrainRunOptions,
  train,
  warmupCosineLr,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { vmaeCheckpointConfig } from './checkpoint.js';
import { checkRangeAsync, type InputRangePolicy } from './inputs.js';
import { nodeCoreIo } from './node-core.js';
import { scaledLr, VMAE_STAGE1, type VMAERecipe, vmaeRecipe } from './recipe.js';
import { type LpipsLike, VMAE } from './vmae.js';

/**
 * Where training images come from: any `ImageBatchSource` of @ldmae/core (a whole-set tensor, an
 * array, an (async) iterable, a `DataLoader`, a function of the step), or any loader with `next()`.
 *
 * A `DataLoader` (or any loader with `next()`) is drawn from step after step across epochs, and a
 * resumed run calls its `seek(step)`; a tensor (cut into batches of `batchSize`), an array and a
 * function returning an iterable are cycled through; a one-shot iterable ends the run when it ends; a
 * function of the 0-based step is called with each step (the best for an exact resume). Batches the
 * source produces are disposed after their step; a tensor or array you pass stays yours.
 */
export type VMAEData = ImageBatchSource | BatchLoader<ImageBatch>;

/** Options of {@link trainVMAE}: core's run options, plus any recipe field to override. */
export interface TrainVMAEOptions
  extends Partial<Omit<VMAERecipe, 'stage'>>,
    Omit<TrainRunOptions, 'schedule' | 'checkpoint' | 'resume' | 'config'> {
  model: VMAE;
  data: VMAEData;
  /** Images per step (the effective batch): scales the learning rate and gives images/s. */
  batchSize: number;
  /** 1 (masked pre-training, default) or 3 (decoder fine-tune without masking). */
  stage?: 1 | 3;
  /** Absolute learning rate; default blr * batchSize / 256. */
  lr?: number;
  /** Warm-up steps; default round(warmupFraction * steps). */
  warmupSteps?: number;
  /** Perceptual distance for the LPIPS term; none by default (the term is then absent). */
  lpips?: LpipsLike | null;
  /** Train only the decoder side (`decoder*`, `from_latent`), as the reference's unused freeze path. */
  freezeEncoder?: boolean;
  /** Masking and sampling noise; saved in checkpoints. Default createRng(seed ?? 0). */
  rng?: Rng;
  seed?: number;
  /** Input range policy during training (default the model's). */
  inputRange?: InputRangePolicy;
  /**
   * Checkpoints: `{ every, path }` writes atomically with core's saveCheckpoint (Node; a folder, or a
   * `.safetensors` file), or core's `{ every, save }` for a custom sink.
   */
  checkpoint?: { every: number; path: string; onStop?: boolean } | TrainCheckpointOptions;
  /** Continue from a checkpoint written by this trainer: a path (Node) or a payload. */
  resume?: string | CheckpointPayload;
  /** An optimiser to use instead of a new AdamW (it is not disposed). */
  optimizer?: AdamW;
}

/** What {@link trainVMAE} returns: core's result plus the recipe that ran. */
export interface TrainVMAEResult extends TrainResult {
  recipe: VMAERecipe & { lr: number; warmupSteps: number; batchSize: number; steps: number };
}

/**
 * Train a VMAE with the reference recipe of `stage`: a convenience over core's `train()` with
 * {@link vmaeLoss}, {@link vmaeParamGroups}, the recipe's warm-up + cosine schedule, checkpoint paths
 * and resume paths. Call `train()` with those two directly for anything the options do not cover.
 *
 * @example
 * const model = createVMAE('f4d4-tiny', { imgSize: 28 });
 * const loader = new DataLoader(await mnist(), { batchSize: 16, seed: 1, transform: toRgb() });
 * await trainVMAE({ model, data: loader, steps: 300, batchSize: 16, blr: 0.1 });
 */
export async function trainVMAE(opts: TrainVMAEOptions): Promise<TrainVMAEResult> {
  if (!opts || typeof opts !== 'object') throw new TypeError('trainVMAE: options object expected');
  const { model, data, steps, batchSize } = opts;
  if (!(model instanceof VMAE)) throw new TypeError('trainVMAE: model must be a VMAE');
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`trainVMAE: steps must be an integer >= 0, got ${steps}`);
  if (!(Number.isFinite(batchSize) && batchSize > 0))
    throw new RangeError(`trainVMAE: batchSize must be a number > 0, got ${batchSize}`);
  // The recipe's fields of opts (vmaeRecipe keeps every key it is given).
  const overrides = Object.fromEntries(Object.keys(VMAE_STAGE1).map((k) => [k, opts[k as keyof VMAERecipe]]));
  const recipe = vmaeRecipe(opts.stage ?? 1, overrides);
  const lr = opts.lr ?? scaledLr(recipe.blr, batchSize);
  const warmupSteps = opts.warmupSteps ?? Math.round(recipe.warmupFraction * steps);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || (steps > 0 && warmupSteps >= steps)) {
    throw new RangeError(`trainVMAE: warmupSteps must be an integer in [0, steps), got ${warmupSteps}`);
  }
  if (recipe.maskRatio > 0 && !model.maskToken) {
    throw new Error(
      `trainVMAE: stage ${recipe.stage} masks ${recipe.maskRatio} of the tokens, but the model has no mask_token`,
    );
  }
  const rng = opts.rng ?? createRng(opts.seed ?? 0);
  const checkAsync = (opts.inputRange ?? model.inputRange) === 'throw' && !canReadSync();
  const sourceOpts = { caller: 'trainVMAE', batchSize, mode: 'train' as const };
  checkImageBatchSource(data, sourceOpts);
  const resume = await resolveResume(opts.resume);
  const fullRecipe = { ...recipe, lr, warmupSteps, batchSize, steps };
  try {
    const result = await train<tf.Tensor4D>({
      ...opts,
      model,
      optimizer: opts.optimizer ?? {
        ...vmaeParamGroups(model, { maskRatio: recipe.maskRatio, freezeEncoder: opts.freezeEncoder }),
        lr,
        betas: recipe.betas,
        weightDecay: recipe.weightDecay,
      },
      data: { open: (startStep) => trainingImages(data, { ...sourceOpts, startStep }, checkAsync) },
      disposeBatch: false, // the reader releases each batch the source produced
      schedule:
        steps > 0
          ? warmupCosineLr({ baseLr: lr, minLr: recipe.minLr, warmupSteps, totalSteps: steps })
          : undefined,
      lossFn: vmaeLoss(model, recipe, { rng, lpips: opts.lpips, inputRange: opts.inputRange }),
      rng,
      checkpoint: checkpointOption(opts.checkpoint),
      resume,
      config: vmaeCheckpointConfig(model, { recipe: fullRecipe }),
    });
    return { ...result, recipe: fullRecipe };
  } finally {
    if (typeof opts.resume === 'string' && resume) tf.dispose(Object.values(resume.tensors));
  }
}

/**
 * The VMAE's training loss for core's `train`: the forward pass of `recipe` (masking, KL, LPIPS) on a
 * batch of images [B, H, W, 3] in [-1, 1], logging every term (`masked`, `visible`, `kl`, `lpips`).
 * `opts`: the masking / sampling generator, the perceptual distance (no LPIPS term without one) and
 * the input range policy (default the model's).
 */
export function vmaeLoss(
  model: VMAE,
  recipe: Pick<VMAERecipe, 'maskRatio' | 'visibleWeight' | 'klWeight' | 'klForm' | 'lpipsWeight' | 'sample'>,
  opts: { rng: Rng; lpips?: LpipsLike | null; inputRange?: InputRangePolicy },
): LossFn<tf.Tensor4D> {
  const { maskRatio, visibleWeight, klWeight, klForm, lpipsWeight, sample } = recipe;
  const terms = { maskRatio, visibleWeight, klWeight, klForm, lpipsWeight, sample };
  return (images) => {
    const out = model.forward(images, { ...terms, ...opts, lpips: opts.lpips ?? null });
    const logs: Record<string, tf.Scalar> = { masked: out.masked, visible: out.visible, kl: out.kl };
    if (out.lpips) logs.lpips = out.lpips;
    return { loss: out.loss, logs };
  };
}

/**
 * The VMAE's default optimiser groups (AdamW `params` and `noDecay`): every trainable parameter, or
 * only the decoder side with `freezeEncoder`; `mask_token` only when tokens are masked; weight decay on
 * the model's decay parameters (matrices) only.
 */
export function vmaeParamGroups(
  model: VMAE,
  opts: { maskRatio: number; freezeEncoder?: boolean },
): Pick<AdamWOptions, 'params' | 'noDecay'> {
  const decay = model.decayParameterNames();
  const params = model.namedParameters().filter(([name]) => {
    if (name === 'mask_token' && opts.maskRatio === 0) return false; // unused without masking
    if (opts.freezeEncoder) return name.startsWith('decoder') || name.startsWith('from_latent');
    return true;
  });
  return { params, noDecay: (name) => !decay.has(name) };
}

/**
 * The images of each step, read with core's readImageBatches (which releases what the source produced
 * once the next batch is asked for). Backends without synchronous reads skip the forward's range check:
 * it is done here, asynchronously.
 */
async function* trainingImages(
  data: VMAEData,
  opts: Parameters<typeof readImageBatches>[1],
  checkAsync: boolean,
): AsyncGenerator<tf.Tensor4D, void, undefined> {
  for await (const { images } of readImageBatches(data, opts)) {
    if (checkAsync) await checkRangeAsync(images, opts.caller);
    yield images;
  }
}

async function resolveResume(resume: TrainVMAEOptions['resume']): Promise<CheckpointPayload | undefined> {
  if (typeof resume !== 'string') return resume;
  return nodeCoreIo('trainVMAE').loadCheckpoint(resume);
}

function checkpointOption(c: TrainVMAEOptions['checkpoint']): TrainCheckpointOptions | undefined {
  if (c === undefined || typeof (c as TrainCheckpointOptions)?.save === 'function')
    return c as TrainCheckpointOptions | undefined;
  const p = c as { every: number; path: string; onStop?: boolean };
  if (!p || typeof p.path !== 'string' || !p.path)
    throw new TypeError('trainVMAE: checkpoint must be { every, path } or { every, save }');
  const io = nodeCoreIo('trainVMAE');
  return { every: p.every, onStop: p.onStop, save: (payload) => io.saveCheckpoint(p.path, payload) };
}
