/**
 * Training a denoiser on (normalised) latents through the core train loop: the paper's recipe by
 * default (rectified flow, AdamW lr 2e-4, betas (0.9, 0.95), no weight decay, no clipping, EMA
 * 0.9999, label dropout 0.1 to the null class), with checkpoints and exact resume.
 */
import {
  AdamW,
  type AdamWOptions,
  type BatchLoader,
  type BatchSource,
  createRng,
  EMA,
  type LossFn,
  type Rng,
  type TrainResult,
  type TrainRunOptions,
  train,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { DenoiserModule } from '../denoiser.js';
import { RectifiedFlow } from '../flow/rectified-flow.js';
import { DENOISER_CHECKPOINT_FORMAT } from '../models/kind.js';
import type { DiffusionObjective } from './objective.js';

/** One training batch: clean latents and, for labelled data, their classes. */
export interface LatentBatchLike {
  /** [B, h, w, c] float32 latents, already normalised. */
  latents: tf.Tensor;
  /** [B] int32 labels, or null / absent for unlabelled data. */
  labels?: tf.Tensor | null;
}

/**
 * A stream of batches with a position, like @ldmae/data's `LatentLoader` (which draws a fresh
 * posterior sample and a random flip per item and step, as the reference does).
 */
export type LatentBatchStream = BatchLoader<LatentBatchLike>;

/** Options of {@link DiffusionTrainer}. */
export interface DiffusionTrainerOptions {
  denoiser: DenoiserModule;
  /** Default: rectified flow with logit-normal times (mu 0, sigma 1). */
  objective?: DiffusionObjective;
  /** Default 2e-4. */
  lr?: number;
  /** Default [0.9, 0.95]. */
  betas?: [number, number];
  /** Default 0. */
  weightDecay?: number;
  /** Default 1e-8. */
  eps?: number;
  /** EMA decay, or false for none. Default 0.9999. */
  ema?: number | false;
  /**
   * Warm the EMA decay up (min(ema, (1 + n) / (10 + n)) at update n), so short runs get a usable
   * average. Default false: the fixed decay of the reference (LightningDiT's update_ema).
   */
  emaWarmup?: boolean;
  /**
   * Probability of replacing a label by the null class. Default: the denoiser config's
   * classDropoutProb when it has one, else 0. Needs a null class when > 0.
   */
  labelDropout?: number;
  /** Seed of times, noise and label dropout (saved in checkpoints). Default 0. */
  seed?: number;
}

/** Options of {@link DiffusionTrainer.train}: core's run options plus the data. */
export interface DiffusionTrainOptions extends TrainRunOptions {
  /**
   * A batch stream (e.g. a `LatentLoader`) or any core `BatchSource` of {@link LatentBatchLike}. A
   * loader with `next()` is drawn from step after step across epochs (its `for await` form would stop
   * after one epoch) and `seek`s to the checkpoint's step on resume; a function is called with each
   * step; an (async) iterable is read once. Every batch is disposed after its step.
   */
  data: BatchSource<LatentBatchLike>;
  /** Extra JSON saved in checkpoint metadata beside the denoiser / objective / optimiser config. */
  config?: unknown;
}

/** Trainer state: the optimiser, the EMA and the generator, around a denoiser. */
export class DiffusionTrainer {
  readonly denoiser: DenoiserModule;
  readonly objective: DiffusionObjective;
  readonly optimizer: AdamW;
  readonly ema: EMA | null;
  readonly rng: Rng;
  readonly labelDropout: number;
  /** The loss of one batch ({@link diffusionLoss} with the trainer's objective, generator and dropout). */
  readonly lossFn: LossFn<LatentBatchLike>;
  private readonly settings: Record<string, unknown>;

  constructor(opts: DiffusionTrainerOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('DiffusionTrainer: options object expected');
    const d = opts.denoiser;
    if (!d || typeof d.forward !== 'function' || typeof d.namedParameters !== 'function')
      throw new TypeError('DiffusionTrainer: denoiser must be a Denoiser Module (DiT, LightningDiT, ...)');
    const cfgDrop = (d as { config?: { classDropoutProb?: number } }).config?.classDropoutProb;
    const drop = opts.labelDropout ?? cfgDrop ?? 0;
    if (!(drop >= 0 && drop < 1))
      throw new RangeError(`DiffusionTrainer: labelDropout must be in [0, 1), got ${drop}`);
    if (drop > 0 && d.nullClass === null)
      throw new Error('DiffusionTrainer: labelDropout > 0 needs a denoiser with a null class');
    const emaDecay = opts.ema === undefined ? 0.9999 : opts.ema;
    if (emaDecay !== false && !(emaDecay >= 0 && emaDecay <= 1))
      throw new RangeError(`DiffusionTrainer: ema must be a decay in [0, 1] or false, got ${emaDecay}`);
    const lr = opts.lr ?? 2e-4;
    const betas = opts.betas ?? [0.9, 0.95];
    const weightDecay = opts.weightDecay ?? 0;
    const eps = opts.eps ?? 1e-8;
    this.denoiser = d;
    this.objective = opts.objective ?? new RectifiedFlow();
    if ('prediction' in d) d.prediction = this.objective.toJSON().type === 'epsilon' ? 'epsilon' : 'velocity';
    this.labelDropout = drop;
    this.rng = createRng(opts.seed ?? 0);
    this.lossFn = diffusionLoss(d, this.objective, this.rng, drop);
    this.optimizer = new AdamW({ ...diffusionParamGroups(d), lr, betas, weightDecay, eps });
    const emaWarmup = opts.emaWarmup ?? false;
    this.ema = emaDecay === false ? null : new EMA(d, { decay: emaDecay, warmup: emaWarmup });
    this.settings = {
      lr,
      betas,
      weightDecay,
      eps,
      ema: emaDecay,
      ...(emaWarmup ? { emaWarmup } : {}),
      labelDropout: drop,
      seed: opts.seed ?? 0,
    };
  }

  /**
   * Train with core's `train` (a convenience: {@link diffusionLoss}, the trainer's optimiser, EMA and
   * generator, which checkpoints save and resume restores).
   */
  async train(opts: DiffusionTrainOptions): Promise<TrainResult> {
    if (!opts || typeof opts !== 'object')
      throw new TypeError('DiffusionTrainer.train: options object expected');
    const denoiserConfig = (this.denoiser as { toJSON?: () => unknown }).toJSON?.();
    // Core's train reads loaders (next(), seek on resume), functions and iterables alike.
    return train<LatentBatchLike>({
      ...opts,
      model: this.denoiser,
      lossFn: this.lossFn,
      optimizer: this.optimizer,
      ema: this.ema ?? undefined,
      rng: this.rng,
      batchSize: (b) => b.latents.shape[0],
      disposeBatch: (b) => tf.dispose([b.latents, ...(b.labels ? [b.labels] : [])]),
      config: {
        format: DENOISER_CHECKPOINT_FORMAT,
        denoiser: denoiserConfig,
        objective: this.objective.toJSON(),
        trainer: this.settings,
        ...(opts.config === undefined ? {} : { user: opts.config }),
      },
    });
  }

  /** Release the optimiser moments and the EMA shadows (not the denoiser). */
  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

/**
 * The denoiser's training loss for core's `train`: label dropout to the null class (one draw of `rng`
 * per label), then `objective`'s loss with times and noise from `rng`. Synchronous.
 */
export function diffusionLoss(
  denoiser: DenoiserModule,
  objective: DiffusionObjective,
  rng: Rng,
  labelDropout = 0,
): LossFn<LatentBatchLike> {
  const classes = denoiser.numClasses;
  return (batch) => {
    const x = batch?.latents;
    if (!(x instanceof tf.Tensor) || x.rank !== 4) {
      throw new Error(
        `DiffusionTrainer: batch.latents must be a [B, h, w, c] tensor, got ${x instanceof tf.Tensor ? `[${x.shape}]` : x}`,
      );
    }
    const b = x.shape[0];
    const given = batch.labels ?? null;
    if (!given && classes > 1)
      throw new Error(`DiffusionTrainer: the batch has no labels but the denoiser has ${classes} classes`);
    if (given && (given.rank !== 1 || given.shape[0] !== b || given.dtype !== 'int32'))
      throw new Error(
        `DiffusionTrainer: batch.labels must be int32 [${b}], got ${given.dtype} [${given.shape}]`,
      );
    const y = given ? Int32Array.from(given.dataSync()) : null;
    for (let i = 0; y && i < b; i++) {
      if (!(y[i] >= 0 && y[i] < classes))
        throw new RangeError(`DiffusionTrainer: labels must be in [0, ${classes}), got ${y[i]}`);
      // One draw per label whatever the outcome, so the stream stays aligned on resume.
      if (labelDropout > 0 && rng.nextFloat() < labelDropout) y[i] = denoiser.nullClass as number;
    }
    const labels = y && tf.tensor1d(y, 'int32'); // null for an unconditional model
    try {
      return objective.loss(denoiser, x, rng, { labels });
    } finally {
      labels?.dispose();
    }
  };
}

/**
 * A denoiser's default optimiser groups (AdamW `params` and `noDecay`): every trainable parameter, with
 * weight decay (0 in the paper's recipe) on its decay parameters only.
 */
export function diffusionParamGroups(denoiser: DenoiserModule): Pick<AdamWOptions, 'params' | 'noDecay'> {
  const decay = denoiser.decayParameterNames();
  return { params: denoiser.namedParameters(), noDecay: (name) => !decay.has(name) };
}
