/** Rebuilding a trained denoiser from a checkpoint written by {@link DiffusionTrainer}. */
import type { CheckpointPayload } from '@ldmae/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { DenoiserConfig } from '../models/config.js';
import { denoiserFromConfig } from '../models/create.js';
import type { DiT } from '../models/dit.js';
import type { LightningDiT } from '../models/lightning-dit.js';

/** Options of {@link denoiserFromCheckpoint}. */
export interface DenoiserFromCheckpointOptions {
  /** 'ema' (default when the checkpoint has an EMA; what the reference samples with) or 'model'. */
  weights?: 'ema' | 'model';
}

/**
 * A DiT / LightningDiT with the config saved in the checkpoint's metadata and its EMA (or live)
 * weights. Everything is checked before any weight is assigned; the payload stays the caller's.
 */
export function denoiserFromCheckpoint(
  payload: CheckpointPayload,
  opts: DenoiserFromCheckpointOptions = {},
): DiT | LightningDiT {
  const where = 'denoiserFromCheckpoint';
  if (!payload?.tensors || !payload.metadata)
    throw new TypeError(`${where}: payload must be {tensors, metadata}`);
  let config: { denoiser?: DenoiserConfig };
  try {
    config = JSON.parse(payload.metadata.config ?? 'null') ?? {};
  } catch (e) {
    throw new Error(`${where}: metadata.config is not valid JSON (${(e as Error).message})`);
  }
  if (!config.denoiser)
    throw new Error(`${where}: metadata.config has no denoiser config (not a DiffusionTrainer checkpoint)`);
  const hasEma = Object.keys(payload.tensors).some((k) => k.startsWith('ema.'));
  const weights = opts.weights ?? (hasEma ? 'ema' : 'model');
  if (weights !== 'ema' && weights !== 'model')
    throw new TypeError(`${where}: weights must be 'ema' or 'model', got ${JSON.stringify(weights)}`);
  if (weights === 'ema' && !hasEma) throw new Error(`${where}: the checkpoint has no EMA weights`);
  const prefix = `${weights}.`;
  const dict: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(payload.tensors))
    if (k.startsWith(prefix)) dict[k.slice(prefix.length)] = t;
  const model = denoiserFromConfig(config.denoiser);
  try {
    model.loadStateDict(dict);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
