/** Sampling a grid with one row per class from the latent diffusion model (rectified flow, Euler). */
import { FlowEulerScheduler, LatentDiffusion } from '@ldmae/diffusion';
import type { LoadedCheckpoint } from './checkpoint.js';
import type { HostImages } from './images.js';

/** Options of {@link sampleGrid}. */
export interface SampleGridOptions {
  /** Images per class (the grid's columns). */
  perClass: number;
  /** Euler steps on the ODE. */
  steps: number;
  seed: number;
  /** Classifier-free guidance scale (1 = none). */
  cfg: number;
  /**
   * Timestep shift of an Euler solver to use instead of the loaded one (default: the loaded pipeline's
   * scheduler: the pipeline folder's, or Euler with the paper's shift 0.3 for the checkpoint layout).
   */
  shift?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * The sampling pipeline of a loaded checkpoint: the one built when it was loaded, or, for a `shift`
 * its scheduler does not have, the same models with Euler at that timestep shift (a rectified-flow
 * model only; dispose its scheduler when done).
 */
export function pipelineOf(c: LoadedCheckpoint, shift?: number): LatentDiffusion {
  const p = c.pipeline;
  if (shift === undefined) return p;
  const current = p.scheduler.toJSON();
  if (current.type === 'flow-euler' && current.shift === shift) return p;
  if (p.prediction === 'epsilon')
    throw new Error(
      `sampleGrid: a timestep shift needs a rectified-flow model; this one predicts epsilon (sample with its own ${current.type} scheduler)`,
    );
  return new LatentDiffusion({
    autoencoder: p.autoencoder,
    denoiser: p.denoiser,
    normalization: p.normalization,
    scheduler: new FlowEulerScheduler({ shift }),
    prediction: 'velocity',
    info: p.info,
  });
}

const nextFrame = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * `perClass` samples of every class, class by class (rows), as `ldmae sample` draws them; an
 * unconditional model gives 10 rows. Returns the images in [-1, 1] and the grid's row count.
 */
export async function sampleGrid(
  c: LoadedCheckpoint,
  o: SampleGridOptions,
): Promise<{ images: HostImages; rows: number; cols: number }> {
  if (!Number.isInteger(o.perClass) || o.perClass < 1)
    throw new RangeError(`sampleGrid: perClass must be an integer >= 1, got ${o.perClass}`);
  if (!Number.isInteger(o.steps) || o.steps < 1)
    throw new RangeError(`sampleGrid: steps must be an integer >= 1, got ${o.steps}`);
  const k = c.info.numClasses;
  const rows = k > 1 ? k : 10;
  const n = rows * o.perClass;
  const classes = k > 1 ? Array.from({ length: n }, (_, i) => Math.floor(i / o.perClass)) : null;
  const pipe = pipelineOf(c, o.shift);
  const [h, w] = c.info.imageShape;
  const data = new Float32Array(n * h * w * 3);
  try {
    for await (const b of pipe.sampleBatches({
      n,
      classes,
      steps: o.steps,
      cfg: o.cfg > 1 && k > 1 ? o.cfg : null,
      seed: o.seed,
      batchSize: Math.min(n, 20),
      signal: o.signal,
      onProgress: (ev) => o.onProgress?.(ev.done, ev.total),
    })) {
      try {
        data.set(await b.images.data(), b.start * h * w * 3);
      } finally {
        b.images.dispose();
      }
      await nextFrame();
    }
  } finally {
    if (pipe !== c.pipeline) pipe.scheduler.dispose();
  }
  return { images: { data, shape: [n, h, w, 3] }, rows, cols: o.perClass };
}
