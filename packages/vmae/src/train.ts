/**
 * `trainVMAE`: the reference recipe (stage 1 or 3) on core's `train()` loop: scaled learning rate,
 * warm-up + half-cosine, AdamW (0.9, 0.95) with decay on matrices only, every loss term logged,
 * atomic checkpoints and exact resume (model, optimiser, step, masking / sampling generator).
 */
import {
  AdamW,
  type BatchLoader,
  type CheckpointPayload,
  canReadSync,
  checkImageBatchSource,
  createRng,
  type ImageBatch,
  type ImageBatchSource,
  type Rng,
  readImageBatches,
  type TrainCheckpointOptions,
  type TrainProgressEvent,
  type TrainResult,
  train,
  warmupCosineLr,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { vmaeCheckpointConfig } from './checkpoint.js';
import { checkRangeAsync, type InputRangePolicy } from './inputs.js';
import { nodeCoreIo } from './node-core.js';
import { scaledLr, type VMAERecipe, vmaeRecipe } from './recipe.js';
import { type LpipsLike, VMAE } from './vmae.js';

/** One batch of images: a tensor [B, H, W, 3] in [-1, 1] or a loader batch `{ images, labels? }` (core's `ImageBatch`). */
export type VMAEBatch = ImageBatch;

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

/** Options of {@link trainVMAE}: the run, plus any recipe field to override. */
export interface TrainVMAEOptions extends Partial<Omit<VMAERecipe, 'stage'>> {
  model: VMAE;
  data: VMAEData;
  /** Total optimiser steps (a resumed run continues up to it). */
  steps: number;
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
  clipGradNorm?: number;
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
  log?: (line: Record<string, unknown>) => void;
  logEvery?: number;
  onProgress?: (ev: TrainProgressEvent) => void;
  signal?: AbortSignal;
}

/** What {@link trainVMAE} returns: core's result plus the recipe that ran. */
export interface TrainVMAEResult extends TrainResult {
  recipe: VMAERecipe & { lr: number; warmupSteps: number; batchSize: number; steps: number };
}

/**
 * Train a VMAE with the reference recipe of `stage`.
 *
 * @example
 * const model = createVMAE('f4d4-tiny', { imgSize: 28 });
 * const loader = new DataLoader(await mnist(), { batchSize: 16, seed: 1, transform: toRgb() });
 * await trainVMAE({ model, data: loader, steps: 300, batchSize: 16, blr: 0.1 });
 */
export async function trainVMAE(opts: TrainVMAEOptions): Promise<TrainVMAEResult> {
  const where = 'trainVMAE';
  if (!opts || typeof opts !== 'object') throw new TypeError(`${where}: options object expected`);
  const { model, data, steps, batchSize } = opts;
  if (!(model instanceof VMAE)) throw new TypeError(`${where}: model must be a VMAE`);
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`${where}: steps must be an integer >= 0, got ${steps}`);
  if (!(Number.isFinite(batchSize) && batchSize > 0))
    throw new RangeError(`${where}: batchSize must be a number > 0, got ${batchSize}`);
  const recipe = vmaeRecipe(opts.stage ?? 1, {
    maskRatio: opts.maskRatio,
    visibleWeight: opts.visibleWeight,
    klWeight: opts.klWeight,
    klForm: opts.klForm,
    lpipsWeight: opts.lpipsWeight,
    sample: opts.sample,
    blr: opts.blr,
    betas: opts.betas,
    weightDecay: opts.weightDecay,
    warmupFraction: opts.warmupFraction,
    minLr: opts.minLr,
    imgSize: opts.imgSize,
  });
  const lr = opts.lr ?? scaledLr(recipe.blr, batchSize);
  const warmupSteps = opts.warmupSteps ?? Math.round(recipe.warmupFraction * steps);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || (steps > 0 && warmupSteps >= steps)) {
    throw new RangeError(`${where}: warmupSteps must be an integer in [0, steps), got ${warmupSteps}`);
  }
  if (recipe.maskRatio > 0 && !model.maskToken) {
    throw new Error(
      `${where}: stage ${recipe.stage} masks ${recipe.maskRatio} of the tokens, but the model has no mask_token`,
    );
  }
  const rng = opts.rng ?? createRng(opts.seed ?? 0);
  const checkAsync = (opts.inputRange ?? model.inputRange) === 'throw' && !canReadSync();
  const sourceOpts = { caller: where, argument: 'data', batchSize, mode: 'train' as const };
  checkImageBatchSource(data, sourceOpts);
  const resume = await resolveResume(opts.resume, where);
  const ownedResume = typeof opts.resume === 'string' ? resume : undefined;

  const trainable = model.namedParameters().filter(([name]) => {
    if (name === 'mask_token' && recipe.maskRatio === 0) return false; // unused without masking
    if (opts.freezeEncoder) return name.startsWith('decoder') || name.startsWith('from_latent');
    return true;
  });
  const decay = model.decayParameterNames();
  let optimizer = opts.optimizer as AdamW;
  // Inside tidy: the constructor's zerosLike moment initialisers would otherwise outlive the optimiser.
  if (!optimizer)
    tf.tidy(() => {
      optimizer = new AdamW({
        params: trainable,
        lr,
        betas: recipe.betas,
        weightDecay: recipe.weightDecay,
        noDecay: (name) => !decay.has(name),
      });
    });
  const fullRecipe = { ...recipe, lr, warmupSteps, batchSize, steps };
  try {
    const startStep = resume ? checkpointStep(resume, where) : 0;
    const result = await train<tf.Tensor4D>({
      model,
      optimizer,
      data: trainingImages(data, { ...sourceOpts, startStep }, checkAsync),
      disposeBatch: false, // the reader releases each batch the source produced
      steps,
      schedule:
        steps > 0
          ? warmupCosineLr({ baseLr: lr, minLr: recipe.minLr, warmupSteps, totalSteps: steps })
          : undefined,
      lossFn: (images) => {
        const out = model.forward(images, {
          rng,
          maskRatio: recipe.maskRatio,
          visibleWeight: recipe.visibleWeight,
          klWeight: recipe.klWeight,
          klForm: recipe.klForm,
          lpips: opts.lpips ?? null,
          lpipsWeight: recipe.lpipsWeight,
          sample: recipe.sample,
          inputRange: opts.inputRange,
        });
        const logs: Record<string, tf.Scalar> = { masked: out.masked, visible: out.visible, kl: out.kl };
        if (out.lpips) logs.lpips = out.lpips;
        return { loss: out.loss, logs };
      },
      rng,
      batchSize,
      clipGradNorm: opts.clipGradNorm,
      checkpoint: checkpointOption(opts.checkpoint, where),
      resume,
      config: vmaeCheckpointConfig(model, { recipe: fullRecipe }),
      log: opts.log,
      logEvery: opts.logEvery,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    return { ...result, recipe: fullRecipe };
  } finally {
    if (!opts.optimizer) optimizer.dispose();
    if (ownedResume) tf.dispose(Object.values(ownedResume.tensors));
  }
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
    if (checkAsync) await checkRangeAsync(images, opts.caller, 'images');
    yield images;
  }
}

async function resolveResume(
  resume: TrainVMAEOptions['resume'],
  where: string,
): Promise<CheckpointPayload | undefined> {
  if (resume === undefined) return undefined;
  if (typeof resume === 'string') return nodeCoreIo(where).loadCheckpoint(resume);
  if (!resume || typeof resume !== 'object' || !resume.tensors || !resume.metadata)
    throw new TypeError(`${where}: resume must be a checkpoint path or a payload {tensors, metadata}`);
  return resume;
}

function checkpointStep(payload: CheckpointPayload, where: string): number {
  const s = Number(payload.metadata.step);
  if (!Number.isInteger(s) || s < 0) throw new Error(`${where}: the resume checkpoint has no valid step`);
  return s;
}

function checkpointOption(
  c: TrainVMAEOptions['checkpoint'],
  where: string,
): TrainCheckpointOptions | undefined {
  if (c === undefined) return undefined;
  if (c && typeof (c as TrainCheckpointOptions).save === 'function') return c as TrainCheckpointOptions;
  const p = c as { every: number; path: string; onStop?: boolean };
  if (!p || typeof p.path !== 'string' || !p.path)
    throw new TypeError(`${where}: checkpoint must be { every, path } or { every, save }`);
  const io = nodeCoreIo(where);
  return { every: p.every, onStop: p.onStop, save: (payload) => io.saveCheckpoint(p.path, payload) };
}
