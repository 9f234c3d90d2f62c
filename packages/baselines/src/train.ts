/** Training any baseline with core's shared loop (`train`), as the VMAE is trained. */
import {
  AdamW,
  type BatchSource,
  type CheckpointPayload,
  type LrSchedule,
  Module,
  type TrainCheckpointOptions,
  type TrainProgressEvent,
  type TrainResult,
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

/** A batch for {@link trainBaseline}: images [B, H, W, C] in [-1, 1], or a loader batch holding them. */
export type ImageBatch = tf.Tensor4D | { images: tf.Tensor4D };

/** Options of {@link trainBaseline}. */
export interface TrainBaselineOptions {
  objective: BaselineObjective;
  /** Batches (disposed after each step): tensors, or `DataLoader` batches from @ldmae/data. */
  data: BatchSource<ImageBatch>;
  steps: number;
  /** Optimiser; default AdamW over every trainable parameter with the options below. */
  optimizer?: AdamW;
  /** Default 1e-4 (the VMAE recipe's base rate). */
  lr?: number;
  /** Default [0.9, 0.95] (the VMAE recipe). */
  betas?: [number, number];
  /** Default 0.05 (the VMAE recipe), not applied to biases, norms and the SD-VAE's logvar. */
  weightDecay?: number;
  schedule?: LrSchedule;
  clipGradNorm?: number;
  checkpoint?: TrainCheckpointOptions;
  resume?: CheckpointPayload;
  log?: (line: Record<string, unknown>) => void;
  logEvery?: number;
  onProgress?: (ev: TrainProgressEvent) => void;
  signal?: AbortSignal;
  /** Saved in checkpoint metadata; default `{kind, config}` of the objective's autoencoder. */
  config?: unknown;
}

/** What {@link trainBaseline} returns: core's result plus the optimiser it used (the caller disposes it). */
export interface TrainBaselineResult extends TrainResult {
  optimizer: AdamW;
}

const imagesOf = (b: ImageBatch): tf.Tensor4D =>
  'images' in b && !('rank' in b) ? b.images : (b as tf.Tensor4D);

/**
 * Train a baseline with core's `train`: the objective's loss each step, AdamW, checkpoints and resume
 * (model, optimiser, step and the objective's rng), JSONL logs, progress events.
 */
export async function trainBaseline(opts: TrainBaselineOptions): Promise<TrainBaselineResult> {
  const objective = opts?.objective;
  if (!objective || typeof objective.loss !== 'function')
    throw new TypeError('trainBaseline: objective must be a BaselineObjective');
  const model = new BaselineTrainingModel(objective);
  // tidy: AdamW builds its moment variables from zerosLike temporaries that it does not release.
  const optimizer =
    opts.optimizer ??
    (tf.tidy(
      () =>
        AdamW.forModule(model, {
          lr: opts.lr ?? 1e-4,
          betas: opts.betas ?? [0.9, 0.95],
          weightDecay: opts.weightDecay ?? 0.05,
        }) as unknown as tf.TensorContainer,
    ) as unknown as AdamW);
  const result = await train<ImageBatch>({
    model,
    optimizer,
    lossFn: (batch, step) => objective.loss(imagesOf(batch), step),
    data: opts.data,
    steps: opts.steps,
    schedule: opts.schedule,
    clipGradNorm: opts.clipGradNorm,
    checkpoint: opts.checkpoint,
    resume: opts.resume,
    log: opts.log,
    logEvery: opts.logEvery,
    onProgress: opts.onProgress,
    signal: opts.signal,
    rng: objective.rng,
    config: opts.config ?? { kind: objective.kind, config: objective.autoencoder.config },
    batchSize: (b) => imagesOf(b).shape[0],
  });
  return { ...result, optimizer };
}
