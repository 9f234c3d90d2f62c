/**
 * Loading denoisers by what their checkpoint says it holds: the denoiser registry, the kind of DiT /
 * LightningDiT checkpoints (`config.format` 'ldmae-denoiser', written by {@link DiffusionTrainer} and by
 * pipeline saving; older trainer checkpoints without the field are recognised by their `denoiser`
 * config) and {@link loadDenoiser}. A user's own denoiser registers with {@link registerDenoiserKind}.
 */
import {
  atDoor,
  type HostTensorDict,
  isHostTensor,
  type LoadedModel,
  type ModelKind,
  type ModelLoadOptions,
  ModelRegistry,
  type ModelSource,
  makeCheckpointPayload,
  type StoredCheckpoint,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../denoiser.js';
import type { PredictionType } from '../schedulers/scheduler.js';
import { type DenoiserConfig, DiT, denoiserFromConfig, type LightningDiT } from './dit.js';

/** `config.format` of denoiser checkpoints. */
export const DENOISER_CHECKPOINT_FORMAT = 'ldmae-denoiser';

/** Options {@link loadDenoiser} passes to the DiT / LightningDiT kind. */
export interface LoadDenoiserOptions {
  /** 'ema' (default when the checkpoint has EMA weights, the ones to sample with) or 'model'. */
  weights?: 'ema' | 'model';
}

const show = (v: unknown) => JSON.stringify(v) ?? 'nothing';

/**
 * What a denoiser checkpoint's config says the model predicts (velocity unless its objective is
 * epsilon). Errors name the field; the public reader calling this adds its name or the file's.
 */
export function predictionOfConfig(config: Record<string, unknown>): PredictionType {
  if (config.prediction !== undefined) {
    if (config.prediction !== 'velocity' && config.prediction !== 'epsilon')
      throw new Error(`config.prediction must be 'velocity' or 'epsilon', got ${show(config.prediction)}`);
    return config.prediction;
  }
  const t = (config.objective as { type?: unknown } | undefined)?.type;
  if (t !== undefined && t !== 'rectified-flow' && t !== 'epsilon')
    throw new Error(`config.objective.type must be 'rectified-flow' or 'epsilon', got ${show(t)}`);
  return t === 'epsilon' ? 'epsilon' : 'velocity';
}

/**
 * A DiT / LightningDiT from a checkpoint's `config.denoiser` and its `ema.` or `model.` weights (host
 * or tf tensors, all of one kind; host tensors: only the weights kept are uploaded). Checked before
 * any weight is assigned; the tensors stay the caller's; the model is in eval mode.
 */
export function buildTrainedDenoiser(
  tensors: HostTensorDict | Record<string, tf.Tensor>,
  config: Record<string, unknown>,
  weights: 'ema' | 'model' | undefined,
): { denoiser: DiT | LightningDiT; weights: 'ema' | 'model' } {
  const den = config.denoiser as DenoiserConfig | undefined;
  if (typeof den !== 'object' || den === null || (den.type !== 'lightningdit' && den.type !== 'dit'))
    throw new Error(
      `config.denoiser must be a DiT / LightningDiT config ({ type: 'lightningdit' | 'dit', ... }), got ${show(den)}`,
    );
  const names = Object.keys(tensors);
  const hasEma = names.some((k) => k.startsWith('ema.'));
  const chosen = weights ?? (hasEma ? 'ema' : 'model');
  if (chosen !== 'ema' && chosen !== 'model')
    throw new TypeError(`weights must be 'ema' or 'model', got ${show(chosen)}`);
  const prefix = `${chosen}.`;
  const keep = names.filter((k) => k.startsWith(prefix));
  if (keep.length === 0)
    throw new Error(
      `the checkpoint has no '${prefix}*' tensors (expected the ${chosen === 'ema' ? 'EMA' : 'trained'} weights; it has ${names.length ? `${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}` : 'no tensors'})`,
    );
  const first = (tensors as Record<string, unknown>)[keep[0]];
  const host = !(first instanceof tf.Tensor);
  const dict: Record<string, tf.Tensor> = {};
  if (host) {
    const selected: HostTensorDict = {};
    for (const k of keep) {
      const t = (tensors as HostTensorDict)[k];
      if (!isHostTensor(t))
        throw new TypeError(`tensor '${k}' must be a host tensor or a tf.Tensor (all of one kind)`);
      selected[k.slice(prefix.length)] = t;
    }
    Object.assign(dict, toTfTensors(selected));
  } else for (const k of keep) dict[k.slice(prefix.length)] = (tensors as Record<string, tf.Tensor>)[k];
  try {
    const model = denoiserFromConfig(den);
    try {
      model.loadStateDict(dict);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.prediction = predictionOfConfig(config);
    model.eval();
    return { denoiser: model, weights: chosen };
  } finally {
    if (host) tf.dispose(Object.values(dict));
  }
}

/**
 * The DiT / LightningDiT kind. Load option: `weights` ('ema' by default when present, or 'model').
 * Saving writes the model's current weights under `model.` with its config and prediction type.
 */
export const ditDenoiserKind: ModelKind<Denoiser> = {
  format: DENOISER_CHECKPOINT_FORMAT,
  description: 'DiT / LightningDiT (@ldmae/diffusion)',
  owns: (m) => m instanceof DiT,
  toPayload: (m) => {
    const model = m as DiT | LightningDiT;
    return makeCheckpointPayload({
      model,
      step: 0,
      config: {
        format: DENOISER_CHECKPOINT_FORMAT,
        denoiser: model.toJSON(),
        prediction: model.prediction ?? 'velocity',
      },
    });
  },
  fromCheckpoint: (c: StoredCheckpoint, opts: ModelLoadOptions) =>
    atDoor(`'${c.location}'`, () =>
      buildTrainedDenoiser(c.tensors, c.config, (opts as LoadDenoiserOptions).weights),
    ).denoiser,
};

/** The denoiser kinds; @ldmae/diffusion registers DiT / LightningDiT. */
export const denoiserRegistry: ModelRegistry<Denoiser> = new ModelRegistry<Denoiser>('denoiser', (c) =>
  typeof c.format === 'string' ? c.format : c.denoiser ? DENOISER_CHECKPOINT_FORMAT : undefined,
);
denoiserRegistry.register(ditDenoiserKind);

/** Register a denoiser kind (see core's `ModelKind`), so {@link loadDenoiser} and pipelines read and write it. */
export function registerDenoiserKind(kind: ModelKind<Denoiser>): void {
  denoiserRegistry.register(kind);
}

/**
 * Load any denoiser: a {@link DiffusionTrainer} checkpoint (EMA weights by default when it has them;
 * `opts.weights` picks), a denoiser saved with a pipeline, the denoiser part of a pipeline folder, or
 * a registered kind of your own; from a path (Node), bytes, a folder or host tensors. The model comes
 * in eval mode with its `prediction` set from the checkpoint.
 */
export async function loadDenoiser(
  source: ModelSource,
  opts: LoadDenoiserOptions & ModelLoadOptions = {},
): Promise<LoadedModel<Denoiser>> {
  return denoiserRegistry.load(source, opts);
}
