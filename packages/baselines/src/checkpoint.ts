/**
 * Baseline checkpoints as LDMAE writes them (`ldmae train-ae --model ae|dae|vae|sd-vae`, or
 * {@link baselineCheckpointConfig} with core's `saveCheckpoint`): the autoencoder's weights under
 * `model.` (a training checkpoint holds the trainer's module, the autoencoder under
 * `model.autoencoder.`) and a `config` metadata entry that says which baseline it is and how it was
 * built, so it loads without knowing its preset.
 */
import type { CheckpointPayload, LatentNormalization } from '@ldmae/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL, PosteriorKind } from './autoencoder-kl.js';
import type { AutoencoderKLConfig } from './config.js';
import { BASELINE_KINDS, type BaselineKind, createBaseline } from './variants.js';

/** `config.format` of a baseline checkpoint. */
export const BASELINE_CHECKPOINT_FORMAT = 'ldmae-baseline';

/** The `config` a baseline checkpoint records. */
export interface BaselineCheckpointConfig {
  format: typeof BASELINE_CHECKPOINT_FORMAT;
  kind: BaselineKind;
  /** The architecture (`AutoencoderKL.config`). */
  autoencoder: AutoencoderKLConfig;
  posterior: PosteriorKind;
  latentNormalization: LatentNormalization | null;
  /** Anything else the writer adds (e.g. `training: true`). */
  [key: string]: unknown;
}

/** The checkpoint `config` of a baseline autoencoder (pass it as `config` to `makeCheckpointPayload`). */
export function baselineCheckpointConfig(ae: AutoencoderKL, kind: BaselineKind): BaselineCheckpointConfig {
  return {
    format: BASELINE_CHECKPOINT_FORMAT,
    kind,
    autoencoder: ae.config,
    posterior: ae.posteriorKind,
    latentNormalization: ae.latentNormalization,
  };
}

/**
 * The baseline config in a checkpoint's metadata, or null when the checkpoint is not a baseline's
 * (no `config`, or another `format`). Throws when it claims to be one but is malformed.
 */
export function parseBaselineCheckpointConfig(
  metadata: Record<string, string>,
  where = 'checkpoint',
): BaselineCheckpointConfig | null {
  let config: unknown;
  try {
    config = JSON.parse(metadata?.config ?? 'null');
  } catch {
    return null;
  }
  if (!config || typeof config !== 'object') return null;
  const c = config as Record<string, unknown>;
  if (c.format !== BASELINE_CHECKPOINT_FORMAT) return null;
  if (!BASELINE_KINDS.includes(c.kind as BaselineKind))
    throw new Error(
      `${where}: unknown baseline kind ${JSON.stringify(c.kind)} (expected one of ${BASELINE_KINDS.join(', ')})`,
    );
  if (!c.autoencoder || typeof c.autoencoder !== 'object')
    throw new Error(`${where}: the baseline config has no 'autoencoder' architecture`);
  return c as BaselineCheckpointConfig;
}

/**
 * Rebuild a baseline autoencoder from a checkpoint payload (a saved model, or a training checkpoint of
 * its trainer), with the architecture and latent normalisation it records; every weight is checked
 * before the model is returned. The payload's tensors stay the caller's; the caller owns the model.
 * @throws when the payload is not a baseline checkpoint, naming `where`
 */
export function autoencoderKLFromCheckpoint(
  payload: CheckpointPayload,
  where = 'autoencoderKLFromCheckpoint',
): { model: AutoencoderKL; kind: BaselineKind; step: number } {
  if (!payload || typeof payload.tensors !== 'object' || payload.tensors === null)
    throw new TypeError(`${where}: payload must be { tensors, metadata } (from loadCheckpoint)`);
  const config = parseBaselineCheckpointConfig(payload.metadata ?? {}, where);
  if (!config)
    throw new Error(
      `${where}: not a baseline checkpoint (its metadata.config has no format '${BASELINE_CHECKPOINT_FORMAT}')`,
    );
  const model = createBaseline(config.kind, { config: config.autoencoder, init: 'zeros' });
  const names = Object.keys(payload.tensors);
  const prefix = names.some((k) => k.startsWith('model.autoencoder.')) ? 'model.autoencoder.' : 'model.';
  const dict: Record<string, tf.Tensor> = {};
  for (const k of names) if (k.startsWith(prefix)) dict[k.slice(prefix.length)] = payload.tensors[k];
  try {
    model.loadStateDict(dict);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.latentNormalization = config.latentNormalization ?? null;
  const step = Number(payload.metadata?.step ?? 0);
  return { model, kind: config.kind, step: Number.isInteger(step) && step > 0 ? step : 0 };
}
