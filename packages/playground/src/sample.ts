/** Sampling a grid with one row per class from the latent diffusion model (rectified flow, Euler). */
import { type LatentDiffusion, latentDiffusionFromInfo } from '@ldmae/diffusion';
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
  /** Timestep shift (the paper's 0.3). */
  shift?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * The sampling pipeline of a loaded checkpoint: the one built when it was loaded (Euler, shift 0.3),
 * or the same with another timestep shift.
 */
export function pipelineOf(c: LoadedCheckpoint, shift = 0.3): LatentDiffusion {
  const current = c.pipeline.scheduler.toJSON();
  if (current.type === 'flow-euler' && current.shift === shift) return c.pipeline;
  return latentDiffusionFromInfo(c.vmae, c.denoiser, c.info, { sampler: 'euler', shift });
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
  return { images: { data, shape: [n, h, w, 3] }, rows, cols: o.perClass };
}
