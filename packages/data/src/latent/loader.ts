/**
 * Streaming a latent cache for diffusion training: each step draws a fresh posterior sample
 * z = mean + exp(logvar / 2) * eps and, per item, the mirrored image's posterior with probability
 * 0.5, as the reference does. Seeded and exactly resumable like the image loader.
 */
import type { LatentNormalization } from '@ldmae/core';
import { createRng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { BatchSchedule, Prefetcher, SeededLoader } from '../loader/schedule.js';
import { STREAM } from '../seeds.js';
import type { LatentSource } from './source.js';

/** Options of {@link LatentLoader}. */
export interface LatentLoaderOptions {
  batchSize: number;
  /** Seed of shuffling, flips and posterior noise (default 0). */
  seed?: number;
  /** Reshuffle every epoch (default true). */
  shuffle?: boolean;
  /** Drop the last incomplete batch of each epoch (default false). */
  dropLast?: boolean;
  /** Global step of the first batch, for resuming (default 0). */
  startStep?: number;
  /** Probability of using the mirrored image's posterior (default 0.5 when the cache has flips, else 0). */
  flipProbability?: number;
  /** Draw z from the posterior (default true); false returns the posterior mean. */
  sample?: boolean;
  /** Per-channel normalisation (z - shift) * scale applied to every latent (default none). */
  normalization?: LatentNormalization | null;
  /** Batches prepared ahead (default 2). */
  prefetch?: number;
}

/** One batch of latents on the CPU side. */
export interface LatentBatchData {
  /** [B, h, w, c] values, NHWC. */
  latents: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array | null;
  indices: Int32Array;
  /** 1 where the mirrored image's posterior was used. */
  flipped: Uint8Array;
  step: number;
  epoch: number;
}

/** One batch of latents; the caller owns (and must dispose) the tensors. */
export interface LatentBatch {
  /** [B, h, w, c] float32. */
  latents: tf.Tensor4D;
  /** [B] int32, or null for unlabelled caches. */
  labels: tf.Tensor1D | null;
  indices: Int32Array;
  flipped: Uint8Array;
  step: number;
  epoch: number;
}

/**
 * Seeded batches of posterior samples from a {@link LatentSource}. Read like `DataLoader`:
 * `next()` without end across epochs (what `DiffusionTrainer` does), or `for await` over one epoch.
 */
export class LatentLoader extends SeededLoader<LatentBatch> {
  readonly source: LatentSource;
  private readonly prefetcher: Prefetcher<Omit<LatentBatchData, 'step' | 'epoch'>>;
  private readonly flipP: number;
  private readonly sample: boolean;
  private readonly shift: Float32Array | null;
  private readonly scale: Float32Array | null;

  constructor(source: LatentSource, opts: LatentLoaderOptions) {
    if (!source || typeof source.read !== 'function' || !source.manifest)
      throw new TypeError('LatentLoader: source must be a LatentSource');
    const o = opts ?? ({} as LatentLoaderOptions);
    const schedule = new BatchSchedule(source.length, o);
    const hasFlip = source.manifest.flip;
    const p = o.flipProbability ?? (hasFlip ? 0.5 : 0);
    if (!(p >= 0 && p <= 1))
      throw new RangeError(`LatentLoader: flipProbability must be in [0, 1], got ${p}`);
    if (p > 0 && !hasFlip)
      throw new Error('LatentLoader: flipProbability > 0 needs a cache encoded with flip: true');
    const c = source.manifest.latentShape[2];
    const norm = o.normalization ?? null;
    if (norm && (norm.shift?.length !== c || norm.scale?.length !== c)) {
      throw new RangeError(
        `LatentLoader: normalization must have ${c} shift and scale values (one per latent channel)`,
      );
    }
    const startStep = o.startStep ?? 0;
    if (!Number.isInteger(startStep) || startStep < 0)
      throw new RangeError(`LatentLoader: startStep must be a non-negative integer, got ${startStep}`);
    const prefetch = o.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 0)
      throw new RangeError(`LatentLoader: prefetch must be a non-negative integer, got ${prefetch}`);
    super(schedule, startStep);
    this.source = source;
    this.flipP = p;
    this.sample = o.sample ?? true;
    this.shift = norm ? Float32Array.from(norm.shift) : null;
    this.scale = norm ? Float32Array.from(norm.scale) : null;
    this.prefetcher = new Prefetcher((step) => this.build(step), prefetch);
  }

  /** Continue from global step `step`. */
  seek(step: number): void {
    if (!Number.isInteger(step) || step < 0)
      throw new RangeError(`LatentLoader.seek: step must be a non-negative integer, got ${step}`);
    this.prefetcher.clear();
    this.current = step;
  }

  private async build(step: number): Promise<Omit<LatentBatchData, 'step' | 'epoch'>> {
    const items = this.schedule.plan(step, STREAM.latent);
    const [h, w, c] = this.source.manifest.latentShape;
    const per = h * w * c;
    const b = items.length;
    const rngs = items.map((it) => createRng(it.seed));
    const flipped = Uint8Array.from(rngs, (r) => (this.flipP > 0 && r.nextFloat() < this.flipP ? 1 : 0));
    const read = await Promise.all(items.map((it, i) => this.source.read(it.index, flipped[i] === 1)));
    const out = new Float32Array(b * per);
    const labelled = this.source.manifest.labelled;
    const labels = labelled ? new Int32Array(b) : null;
    for (let i = 0; i < b; i++) {
      const { mean, logvar, label } = read[i];
      const rng = rngs[i];
      const o = i * per;
      for (let j = 0; j < per; j++) {
        let z = this.sample ? mean[j] + Math.exp(0.5 * logvar[j]) * rng.nextNormal() : mean[j];
        if (this.shift && this.scale) {
          const ch = j % c;
          z = (z - this.shift[ch]) * this.scale[ch];
        }
        out[o + j] = z;
      }
      if (labels) labels[i] = label ?? 0;
    }
    return {
      latents: out,
      shape: [b, h, w, c],
      labels,
      indices: Int32Array.from(items, (it) => it.index),
      flipped,
    };
  }

  /** The next batch as CPU arrays, advancing the step. */
  async nextData(): Promise<LatentBatchData> {
    const step = this.current;
    this.current = step + 1;
    const d = await this.prefetcher.take(step);
    return { ...d, step, epoch: this.schedule.epochOf(step) };
  }

  /** The next batch as tensors (the caller disposes them), advancing the step. */
  async next(): Promise<LatentBatch> {
    const d = await this.nextData();
    return {
      latents: tf.tensor4d(d.latents, d.shape, 'float32'),
      labels: d.labels ? tf.tensor1d(d.labels, 'int32') : null,
      indices: d.indices,
      flipped: d.flipped,
      step: d.step,
      epoch: d.epoch,
    };
  }
}
