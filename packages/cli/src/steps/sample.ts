/**
 * Sampling from a trained latent diffusion model: loading a `train-ldm` checkpoint (EMA weights), the
 * autoencoder it was trained with, the pipeline (Euler or Heun on the rectified-flow ODE, classifier-free
 * guidance), and a grid with one row per class.
 */
import type { Autoencoder } from '@ldmae/core';
import { loadCheckpoint } from '@ldmae/core';
import {
  type DiT,
  denoiserFromCheckpoint,
  FlowEulerScheduler,
  FlowHeunScheduler,
  LatentDiffusion,
  type LightningDiT,
} from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { CliError } from '../errors.js';
import { yieldToEventLoop } from '../interrupt.js';
import type { Reporter } from '../progress.js';
import type { LdmInfo } from './train-ldm.js';

/** ODE solvers of `--sampler`. */
export const SAMPLERS = ['euler', 'heun'] as const;

/** A trained denoiser and what it was trained on. */
export interface LoadedLdm {
  denoiser: DiT | LightningDiT;
  info: LdmInfo;
  /** Training step of the checkpoint. */
  step: number;
}

/** Load a `train-ldm` checkpoint (its EMA weights when it has them). */
export async function loadLdm(path: string): Promise<LoadedLdm> {
  let payload: Awaited<ReturnType<typeof loadCheckpoint>>;
  try {
    payload = await loadCheckpoint(path);
  } catch (e) {
    throw new CliError(`--ldm: cannot read the checkpoint '${path}': ${(e as Error).message}`, {
      hint: 'it is missing or corrupt; train one with `ldmae train-ldm` (or continue that run with --resume)',
    });
  }
  try {
    const config = JSON.parse(payload.metadata.config ?? '{}') as { user?: LdmInfo };
    const info = config.user;
    if (!info?.normalization || !info.latentShape)
      throw new Error(
        'the checkpoint does not say what it was trained on (not written by `ldmae train-ldm`)',
      );
    const denoiser = denoiserFromCheckpoint(payload);
    denoiser.eval();
    return { denoiser, info, step: Number(payload.metadata.step) || 0 };
  } catch (e) {
    throw new CliError(`--ldm: '${path}' is not a usable diffusion checkpoint: ${(e as Error).message}`);
  } finally {
    tf.dispose(Object.values(payload.tensors));
  }
}

/** The sampling pipeline of a denoiser and an autoencoder. */
export function makePipeline(
  ae: Autoencoder,
  denoiser: DiT | LightningDiT,
  info: LdmInfo,
  opts: { sampler: string; shift: number },
): LatentDiffusion {
  const [h, w, c] = ae.latentShape(info.imageShape);
  const [lh, lw, lc] = info.latentShape;
  if (h !== lh || w !== lw || c !== lc) {
    throw new CliError(
      `the autoencoder makes ${h}x${w}x${c} latents of ${info.imageShape.join('x')} images, the diffusion model was trained on ${lh}x${lw}x${lc}`,
      { hint: 'use the autoencoder that encoded the latent cache (--ae)' },
    );
  }
  const scheduler =
    opts.sampler === 'heun'
      ? new FlowHeunScheduler({ shift: opts.shift })
      : new FlowEulerScheduler({ shift: opts.shift });
  return new LatentDiffusion({ autoencoder: ae, denoiser, normalization: info.normalization, scheduler });
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
