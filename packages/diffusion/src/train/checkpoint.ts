/** Rebuilding a trained denoiser from a checkpoint written by {@link DiffusionTrainer}. */
import { atDoor, type CheckpointPayload } from '@ldmae/core';
import type { DiT, LightningDiT } from '../models/dit.js';
import { buildTrainedDenoiser } from '../models/kind.js';

/** Options of {@link denoiserFromCheckpoint}. */
export interface DenoiserFromCheckpointOptions {
  /** 'ema' (default when the checkpoint has an EMA; what the reference samples with) or 'model'. */
  weights?: 'ema' | 'model';
}

/**
 * A DiT / LightningDiT with the config saved in the checkpoint's metadata and its EMA (or live)
 * weights, in eval mode with its `prediction` set. Everything is checked before any weight is
 * assigned; the payload stays the caller's.
 */
export function denoiserFromCheckpoint(
  payload: CheckpointPayload,
  opts: DenoiserFromCheckpointOptions = {},
): DiT | LightningDiT {
  if (!payload?.tensors || !payload.metadata)
    throw new TypeError(`denoiserFromCheckpoint: payload must be {tensors, metadata}`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(payload.metadata.config ?? 'null') ?? {};
  } catch (e) {
    throw new Error(`denoiserFromCheckpoint: metadata.config is not valid JSON (${(e as Error).message})`);
  }
  if (!config.denoiser)
    throw new Error(
      `denoiserFromCheckpoint: metadata.config has no denoiser config (not a DiffusionTrainer checkpoint)`,
    );
  return atDoor('denoiserFromCheckpoint', () => buildTrainedDenoiser(payload.tensors, config, opts.weights))
    .denoiser;
}
