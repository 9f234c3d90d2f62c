/** Training any baseline with core's shared loop (`train`), as the VMAE is trained. */
import {
  AdamW,
  type AdamWOptions,
  type BatchLoader,
  checkImageBatchSource,
  type ImageBatch,
  type ImageBatchRead,
  type ImageBatchSource,
  type LossFn,
  Module,
  readImageBatches,
  type TrainResult,
  type TrainRunOptions,
  train,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from './autoencoder-kl.js';
import {
  AeObjective,
  type BaselineObjective,
  DaeObjective,
  type DaeObjectiveOptions,
  VaeObjective,
  type VaeObjectiveOptions,
} from './objectives.js';
import { SdVaeObjective, type SdVaeObjectiveOptions } from './sd-vae-objective.js';
import { type BaselineKind, checkBaselineKind } from './variants.js';

/** Options of {@link createObjective}, by kind. */
export type ObjectiveOptions = DaeObjectiveOptions & VaeObjectiveOptions & SdVaeObjectiveOptions;

/** The training objective of a baseline kind over `autoencoder` (see each objective for its loss). */
export function createObjective(
  kind: BaselineKind,
  autoencoder: AutoencoderKL,
  opts: ObjectiveOptions = {},
): BaselineObjective {
  checkBaselineKind(kind, 'createObjective');
  if (!autoencoder || typeof autoencoder.encode !== 'function') {
    throw new TypeError('createObjective: autoencoder must be an AutoencoderKL');
  }
  switch (kind) {
    case 'ae':
      return new AeObjective(autoencoder, opts);
    case 'dae':
      return new DaeObjective(autoencoder, opts);
    case 'vae':
      return new VaeObjective(autoencoder, opts);
    default:
      return new SdVaeObjective(autoencoder, opts);
  }
}

/**
 * What core's `train` optimises: the autoencoder (`autoencoder.*`, diffusers names below it) and the
 * objective's own state (`loss.*`, e.g. `loss.logvar`, `loss.discriminator.main.*`). It owns neither:
 * `dispose()` is a no-op; dispose the autoencoder and the objective.
 */
export class BaselineTrainingModel extends Module {
  readonly autoencoder: AutoencoderKL;
  readonly objective: BaselineObjective;

  constructor(objective: BaselineObjective) {
    super();
    this.objective = objective;
    this.autoencoder = this.registerModule('autoencoder', objective.autoencoder);
    if (objective.module) this.registerModule('loss', objective.module);
  }

  override dispose(): void {}
}

/** Options of {@link trainBaseline}: core's run options plus the objective, data and optimiser. */
export interface TrainBaselineOptions extends TrainRunOptions {
  objective: BaselineObjective;
  /**
   * The training images: any `ImageBatchSource` of @ldmae/core (a whole-set tensor, an array, an
   * (async) iterable, a `DataLoader`, a function of the step), or any loader with `next()`.
   *
   * A `DataLoader` (or any loader with `next()`) is drawn from step after step across epochs, and a
   * resumed run calls its `seek(step)`; a tensor (cut into batches of `batchSize`), an array and a
   * function returning an iterable are cycled through; a one-shot iterable ends the run when it ends
   * ('data-exhausted'); a function of the step is called with each step (the best for an exact resume).
   * Batches the source produces are disposed after their step; a tensor or array you pass stays yours.
   */
  data: ImageBatchSource | BatchLoader<ImageBatch>;
  /** Images per step when `data` is one tensor (the whole set); required then, unused otherwise. */
  batchSize?: number;
  /** Optimiser; default AdamW over {@link baselineParamGroups} with the options below. */
  optimizer?: AdamW;
  /** Default 1e-4 (the VMAE recipe's base rate). */
  lr?: number;
  /** Default [0.9, 0.95] (the VMAE recipe). */
  betas?: [number, number];
  /** Default 0.05 (the VMAE recipe), not applied to biases, norms and the SD-VAE's logvar. */
  weightDecay?: number;
  /** Saved in checkpoint metadata; default `{kind, config}` of the objective's autoencoder. */
  config?: unknown;
}

/** What {@link trainBaseline} returns: core's result plus the optimiser it used (the caller disposes it). */
export interface TrainBaselineResult extends TrainResult {
  optimizer: AdamW;
}

/**
 * Train a baseline: a convenience over core's `train` with {@link baselineLoss} and
 * {@link baselineParamGroups} (checkpoints, resume of model, optimiser, step and the objective's rng,
 * JSONL logs and progress events are `train`'s). Images come from any
 * `ImageBatchSource` (see {@link TrainBaselineOptions.data}). When the run fails, an optimiser made
 * here is disposed before the error is rethrown.
 *
 * @example
 * const loader = new DataLoader(await mnist(), { batchSize: 8, seed: 1, transform: toRgb() });
 * const objective = createObjective('vae', createBaseline('vae', { preset: 'micro-f4d4' }));
 * const run = await trainBaseline({ objective, data: loader, steps: 100, lr: 1e-3 });
 * run.optimizer.dispose();
 */
export async function trainBaseline(opts: TrainBaselineOptions): Promise<TrainBaselineResult> {
  const objective = opts?.objective;
  if (!objective || typeof objective.loss !== 'function')
    throw new TypeError('trainBaseline: objective must be a BaselineObjective');
  const sourceOpts = { caller: 'trainBaseline', batchSize: opts.batchSize, mode: 'train' as const };
  checkImageBatchSource(opts.data, sourceOpts);
  const model = new BaselineTrainingModel(objective);
  let optimizer = opts.optimizer as AdamW;
  // tidy: AdamW builds its moment variables from zerosLike temporaries that it does not release.
  if (!optimizer)
    tf.tidy(() => {
      optimizer = new AdamW({
        ...baselineParamGroups(model),
        lr: opts.lr ?? 1e-4,
        betas: opts.betas ?? [0.9, 0.95],
        weightDecay: opts.weightDecay ?? 0.05,
      });
    });
  try {
    const result = await train<ImageBatchRead>({
      ...opts,
      model,
      optimizer,
      lossFn: baselineLoss(objective),
      data: { open: (startStep) => readImageBatches(opts.data, { ...sourceOpts, startStep }) },
      disposeBatch: false, // the reader releases each batch the source produced
      rng: objective.rng,
      config: opts.config ?? { kind: objective.kind, config: objective.autoencoder.config },
      batchSize: (b) => b.images.shape[0],
    });
    return { ...result, optimizer };
  } catch (e) {
    // A run that fails returns no optimiser: release the one made here.
    if (!opts.optimizer) optimizer.dispose();
    throw e;
  }
}

/** A baseline's training loss for core's `train`: its objective's loss of each batch's images. */
export function baselineLoss(objective: BaselineObjective): LossFn<ImageBatchRead> {
  return (batch, step) => objective.loss(batch.images, step);
}

/**
 * A baseline's default optimiser groups (AdamW `params` and `noDecay`): every trainable parameter of
 * the training model (autoencoder and objective state), with weight decay on its decay parameters only.
 */
export function baselineParamGroups(model: BaselineTrainingModel): Pick<AdamWOptions, 'params' | 'noDecay'> {
  const decay = model.decayParameterNames();
  return { params: model.namedParameters(), noDecay: (name) => !decay.has(name) };
}
