/**
 * Sampling from a trained latent diffusion model: loading a `train-ldm` checkpoint (EMA weights), the
 * autoencoder it was trained with, the pipeline (Euler or Heun on the rectified-flow ODE, classifier-free
 * guidance), and a grid with one row per class.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Autoencoder, loadCheckpointHost, PIPELINE_FILE } from '@ldmae/core';
import {
  type DiT,
  denoiserFromTrainingCheckpoint,
  type LatentDiffusion,
  type LdmCheckpointInfo,
  type LightningDiT,
  latentDiffusionFromInfo,
  type PipelineJson,
  parsePipelineJson,
} from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { CliError } from '../errors.js';
import { yieldToEventLoop } from '../interrupt.js';
import type { Reporter } from '../progress.js';

/** ODE solvers of `--sampler`. */
export const SAMPLERS = ['euler', 'heun'] as const;

/** A trained denoiser and what it was trained on. */
export interface LoadedLdm {
  denoiser: DiT | LightningDiT;
  info: LdmCheckpointInfo;
  /** Training step of the checkpoint. */
  step: number;
  /** Which weights were loaded: the EMA average or the trained (raw) weights. */
  weights: 'ema' | 'raw';
  /**
   * A warning when the EMA weights were loaded but their average has seen fewer updates than its time
   * constant 1 / (1 - decay) (and did not warm up): they still lean on the initial weights.
   */
  warning: string | null;
}

/** An error's message without its leading `name: ` (a library function's name, noise in a CLI message). */
const plain = (e: unknown, name: string) => (e as Error).message.replace(`${name}: `, '');

/**
 * Load a `train-ldm` checkpoint (its EMA weights when it has them) with @ldmae/diffusion's
 * `denoiserFromTrainingCheckpoint`: the file is read as host tensors, and only the weights kept are
 * uploaded (not the live weights beside the EMA, nor the optimiser moments).
 */
export async function loadLdm(path: string, weights?: 'ema' | 'raw'): Promise<LoadedLdm> {
  let payload: Awaited<ReturnType<typeof loadCheckpointHost>>;
  let defaults: Partial<LdmCheckpointInfo> | undefined;
  try {
    const pipeline = await readPipelineJson(path);
    if (pipeline) {
      // A pipeline folder: its denoiser part, with what pipeline.json records; the autoencoder is the
      // folder itself (loadAutoencoder reads a pipeline's autoencoder part).
      defaults = {
        cache: null,
        autoencoder: path,
        normalization: pipeline.normalization ?? undefined,
        latentShape: pipeline.latentShape,
        imageShape: pipeline.info.imageShape,
        numClasses: pipeline.numClasses,
        classes: pipeline.info.classes,
      };
      payload = await loadCheckpointHost(join(path, pipeline.parts.denoiser));
    } else payload = await loadCheckpointHost(path);
  } catch (e) {
    throw new CliError(`--ldm: cannot read the checkpoint '${path}': ${(e as Error).message}`, {
      hint: 'it is missing or corrupt; train one with `ldmae train-ldm` (or continue that run with --resume)',
    });
  }
  try {
    const r = denoiserFromTrainingCheckpoint(payload, {
      ...(weights ? { weights: weights === 'raw' ? 'model' : 'ema' } : {}),
      ...(defaults ? { defaults } : {}),
    });
    const loaded = r.weights === 'ema' ? 'ema' : 'raw';
    return {
      denoiser: r.denoiser,
      info: r.info,
      step: r.step || trainedSteps(payload.metadata),
      weights: loaded,
      warning: emaWarning(payload.metadata, loaded),
    };
  } catch (e) {
    throw new CliError(
      `--ldm: '${path}' is not a usable diffusion checkpoint: ${plain(e, 'denoiserFromTrainingCheckpoint')}`,
      {
        hint: 'use the pipeline folder of `ldmae train-ldm` (<out>/pipeline) or its checkpoint folder (of `ldmae quickstart`: <out>/ldm/pipeline)',
      },
    );
  }
}

/** The parsed pipeline.json of a pipeline folder, or null when `path` is not one. */
async function readPipelineJson(path: string): Promise<PipelineJson | null> {
  let text: string;
  try {
    text = await readFile(join(path, PIPELINE_FILE), 'utf8');
  } catch {
    return null;
  }
  return parsePipelineJson(text, join(path, PIPELINE_FILE));
}

/** EMA updates recorded with saved EMA weights (a pipeline's denoiser has no training step). */
function trainedSteps(metadata: Record<string, string>): number {
  try {
    const u = JSON.parse(metadata.ema ?? 'null')?.updates;
    return Number.isInteger(u) ? u : 0;
  } catch {
    return 0;
  }
}

/** The warning of {@link LoadedLdm} from the checkpoint's EMA state (`metadata.ema`). */
function emaWarning(metadata: Record<string, string>, weights: 'ema' | 'raw'): string | null {
  if (weights !== 'ema' || metadata.ema === undefined) return null;
  let state: { decay?: unknown; updates?: unknown; warmup?: unknown };
  try {
    state = JSON.parse(metadata.ema);
  } catch {
    return null;
  }
  const { decay, updates } = state;
  if (typeof decay !== 'number' || typeof updates !== 'number' || state.warmup === true || decay >= 1)
    return null;
  const span = 1 / (1 - decay);
  if (updates >= span) return null;
  return (
    `the EMA weights have seen ${updates} updates, fewer than their time constant 1 / (1 - ${decay}) = ${Math.round(span)}: ` +
    `they still lean on the initial weights; sample with --weights raw, train longer, or train with --ema-warmup`
  );
}

/** The sampling pipeline of a denoiser and an autoencoder (latent shapes checked against `info`). */
export function makePipeline(
  ae: Autoencoder,
  denoiser: DiT | LightningDiT,
  info: LdmCheckpointInfo,
  opts: { sampler: (typeof SAMPLERS)[number]; shift: number },
): LatentDiffusion {
  try {
    return latentDiffusionFromInfo(ae, denoiser, info, opts);
  } catch (e) {
    throw new CliError(plain(e, 'latentDiffusionFromInfo'), {
      hint: 'use the autoencoder that encoded the latent cache (--ae)',
    });
  }
}

/** Options of {@link sampleClassGrid}. */
export interface GridOptions {
  /** Images per class (one row each); unconditional models get `perClass * rows` images. */
  perClass: number;
  steps: number;
  cfg: number;
  seed: number;
  batchSize: number;
  reporter: Reporter;
  signal?: AbortSignal;
  phase?: string;
}

/**
 * Samples for a grid: `perClass` images of each class, class by class (rows of the grid), or
 * `perClass * 10` for an unconditional model. Returns images [n, H, W, 3] in [-1, 1] (the caller owns
 * them) and their labels.
 */
export async function sampleClassGrid(
  ldm: LatentDiffusion,
  numClasses: number,
  o: GridOptions,
): Promise<{ images: tf.Tensor4D; labels: Int32Array; rows: number }> {
  const rows = numClasses > 1 ? numClasses : 10;
  const n = rows * o.perClass;
  const classes = numClasses > 1 ? Array.from({ length: n }, (_, i) => Math.floor(i / o.perClass)) : null;
  const phase = o.reporter.phase(o.phase ?? 'sample', n, 'images');
  const parts: tf.Tensor4D[] = [];
  try {
    const batches = ldm.sampleBatches({
      n,
      classes,
      steps: o.steps,
      cfg: o.cfg > 1 && numClasses > 1 ? o.cfg : null,
      seed: o.seed,
      batchSize: o.batchSize,
      signal: o.signal,
      onProgress: phase.progress,
    });
    for await (const b of batches) {
      parts.push(b.images);
      // Lets a Ctrl-C through between batches (sampling itself settles only microtasks).
      await yieldToEventLoop();
    }
    phase.finish();
    const images = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor4D);
    if (parts.length > 1) tf.dispose(parts);
    return { images, labels: Int32Array.from(classes ?? new Array(n).fill(0)), rows };
  } catch (e) {
    tf.dispose(parts);
    phase.finish({ status: o.signal?.aborted ? 'stopped' : 'failed' });
    throw e;
  }
}
