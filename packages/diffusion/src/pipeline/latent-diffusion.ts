/**
 * `LatentDiffusion`: an autoencoder, its latent normalisation, a denoiser and a scheduler put together
 * to turn noise into images, streamed in batches with progress events.
 */
import {
  type Autoencoder,
  atDoor,
  createRng,
  denormalizeLatents,
  deriveStreamSeed,
  EtaMeter,
  type FolderSource,
  type FolderStore,
  type LatentNormalization,
  type Progress,
  type Rng,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../denoiser.js';
import { FlowEulerScheduler } from '../flow/solvers.js';

import { checkGuidance, type GuidanceOptions } from '../sampling/guidance.js';

import { sampleLoop } from '../sampling/sample-loop.js';

import type { PredictionType, Scheduler, UserTimesteps } from '../schedulers/scheduler.js';
import {
  type LoadPipelineOptions,
  loadPipeline,
  type PipelineInfo,
  type PipelineJson,
  type SavePipelineOptions,
  savePipeline,
} from './pipeline-folder.js';

/** Options of {@link LatentDiffusion}. */
export interface LatentDiffusionOptions {
  autoencoder: Autoencoder;
  denoiser: Denoiser;
  /**
   * The normalisation the denoiser was trained in: (z - shift) * scale per channel. Default the
   * autoencoder's `latentNormalization`; null means latents are used as they are.
   */
  normalization?: LatentNormalization | null;
  /** Default: Euler on the rectified-flow ODE with the paper's shift 0.3. */
  scheduler?: Scheduler;
  /**
   * What the denoiser was trained to predict (its training objective: rectified flow predicts
   * 'velocity', DDPM 'epsilon'). When given, every scheduler used must expect it: a DDIM (epsilon)
   * scheduler on a velocity model would sample noise without an error.
   */
  prediction?: PredictionType;
  /** What the pipeline knows about its data (image shape, class names, how it was made); kept by save. */
  info?: PipelineInfo | null;
}

/** A progress event of sampling: images done (fractional within a batch), plus the step position. */
export interface SampleProgress extends Progress {
  /** 0-based batch index and number of batches. */
  batch: number;
  batches: number;
  /** Scheduler steps done in this batch, and in all. */
  step: number;
  steps: number;
}

/** Options of {@link LatentDiffusion.sample}. */
export interface SampleOptions {
  /** Number of images. */
  n: number;
  /**
   * Class of each image (length n), or one class for all. Omitted: uniform random classes for a
   * class-conditional model (drawn from the seed, as the reference's evaluation does), class 0 for an
   * unconditional one.
   */
  classes?: ArrayLike<number> | number | null;
  /** Scheduler steps (or explicit timesteps). */
  steps: number | UserTimesteps;
  /** Classifier-free guidance: a scale, or full options (interval, channels). Default none. */
  cfg?: number | GuidanceOptions | null;
  /** Seed of labels and noise (default 0). Image i gets the same noise whatever the batch size. */
  seed?: number;
  /** Images per denoiser batch (default 16). With guidance the denoiser sees twice as many. */
  batchSize?: number;
  /** Use this scheduler instead of the pipeline's. */
  scheduler?: Scheduler;
  onProgress?: (ev: SampleProgress) => void;
  /** Stops between steps with an AbortError. */
  signal?: AbortSignal;
}

/** One batch of {@link LatentDiffusion.sampleBatches}. */
export interface SampleBatch {
  /** [b, H, W, 3] in [-1, 1]; the consumer owns it. */
  images: tf.Tensor4D;
  /** Labels of the batch. */
  labels: Int32Array;
  /** Index of the batch's first image among the n. */
  start: number;
}

/**
 * Channels of an autoencoder's latents, from its `latentShape` of a 256 x 256 RGB image (the channel
 * count does not depend on the size); null when it does not take that size.
 */
function latentChannels(ae: Autoencoder): number | null {
  if (typeof ae.latentShape !== 'function') return null;
  try {
    const c = ae.latentShape([256, 256, 3])?.[2];
    return Number.isInteger(c) ? c : null;
  } catch {
    return null;
  }
}

const LABEL_STREAM = 1;
const NOISE_STREAM = 2;
const STEP_STREAM = 3;

/**
 * Noise to images: sample normalised latents, undo the normalisation, decode, clip to [-1, 1].
 * Schedulers hold step state, so run one sampling at a time per scheduler (pass `scheduler` in the
 * sample options to run several concurrently).
 */
export class LatentDiffusion {
  readonly autoencoder: Autoencoder;
  readonly denoiser: Denoiser;
  readonly normalization: LatentNormalization | null;
  readonly scheduler: Scheduler;
  /** The denoiser's prediction type, when known (see {@link LatentDiffusionOptions.prediction}). */
  readonly prediction: PredictionType | null;
  /** What the pipeline knows about its data, or null. */
  readonly info: PipelineInfo | null;
  private disposed = false;

  constructor(opts: LatentDiffusionOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('LatentDiffusion: options object expected');
    if (!opts.autoencoder || typeof opts.autoencoder.decode !== 'function')
      throw new TypeError('LatentDiffusion: autoencoder must be an Autoencoder');
    if (!opts.denoiser || typeof opts.denoiser.forward !== 'function')
      throw new TypeError('LatentDiffusion: denoiser must be a Denoiser');
    const norm = opts.normalization === undefined ? opts.autoencoder.latentNormalization : opts.normalization;
    const c = opts.denoiser.inChannels;
    const aeChannels = latentChannels(opts.autoencoder);
    if (aeChannels !== null && aeChannels !== c)
      throw new Error(
        `LatentDiffusion: the autoencoder '${opts.autoencoder.name}' makes ${aeChannels}-channel latents, the denoiser takes ${c}: use the autoencoder whose latents the denoiser was trained on`,
      );
    if (norm && (norm.shift?.length !== c || norm.scale?.length !== c)) {
      throw new Error(
        `LatentDiffusion: normalization must have ${c} shift and scale values (the denoiser's channels)`,
      );
    }
    const prediction = opts.prediction ?? opts.denoiser.prediction ?? undefined;
    if (prediction !== undefined && prediction !== 'velocity' && prediction !== 'epsilon')
      throw new TypeError(`LatentDiffusion: prediction must be 'velocity' or 'epsilon', got ${prediction}`);
    this.autoencoder = opts.autoencoder;
    this.denoiser = opts.denoiser;
    this.normalization = norm ?? null;
    this.prediction = prediction ?? null;
    this.info = opts.info ?? null;
    this.scheduler = opts.scheduler ?? new FlowEulerScheduler({ shift: 0.3 });
    this.checkScheduler(this.scheduler);
  }

  /**
   * Save the pipeline as one folder (a path in Node, or a FolderStore such as `memoryFolder()` in a
   * browser): the autoencoder and the denoiser as checkpoints of their registered kinds (with the EMA
   * weights when `opts.ema` is given), `pipeline.json` (normalisation, scheduler, prediction, shapes,
   * classes, default weights) and a model card README.md. The save commits atomically: a crash leaves
   * the previous pipeline or the new one. Returns what was written to `pipeline.json`.
   *
   * @example
   * await pipe.save('models/mnist-ldm', { ema: trainer.ema, classes: ['0', '1', ...] });
   * const again = await LatentDiffusion.load('models/mnist-ldm');
   */
  async save(target: string | FolderStore, opts: SavePipelineOptions = {}): Promise<PipelineJson> {
    if (this.disposed) throw new Error('LatentDiffusion.save: the pipeline has been disposed');
    return savePipeline(this, target, opts);
  }

  /**
   * Load a pipeline saved by {@link save} (or by `ldmae train-ldm`): a folder path in Node, or a
   * FolderSource (`fetchFolder(url)`, `memoryFolder(files)`) anywhere. The autoencoder's package must
   * be imported (it registers its kind). The denoiser uses the weights the folder records as default
   * (EMA when saved) unless `opts.weights` says otherwise. The caller owns the pipeline (`dispose()`).
   */
  static load(source: string | FolderSource, opts: LoadPipelineOptions = {}): Promise<LatentDiffusion> {
    return loadPipeline(source, opts);
  }

  /**
   * Release what the pipeline holds: the autoencoder, the denoiser (when it has `dispose`) and the
   * scheduler. The pipeline is unusable afterwards; dispose the parts yourself instead when they are
   * shared with other code.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.autoencoder.dispose();
    (this.denoiser as { dispose?: () => void }).dispose?.();
    this.scheduler.dispose();
  }

  private checkScheduler(s: Scheduler): void {
    if (this.prediction && s.prediction && s.prediction !== this.prediction)
      throw new Error(
        `LatentDiffusion: the scheduler expects ${s.prediction} predictions, the denoiser was trained to predict ${this.prediction}`,
      );
  }

  /** Labels of n images under `seed` (see {@link SampleOptions.classes}). */
  labelsFor(n: number, classes: SampleOptions['classes'], seed: number): Int32Array {
    const k = this.denoiser.numClasses;
    if (classes == null) {
      if (k === 1) return new Int32Array(n);
      const rng = createRng(deriveStreamSeed(seed, LABEL_STREAM, 0));
      return Int32Array.from({ length: n }, () => rng.nextInt(k));
    }
    const out = typeof classes === 'number' ? new Int32Array(n).fill(classes) : Int32Array.from(classes);
    if (out.length !== n)
      throw new Error(`LatentDiffusion.sample: classes must hold n = ${n} labels, got ${out.length}`);
    out.forEach((v, i) => {
      const given = typeof classes === 'number' ? classes : classes[i];
      if (v !== given || v < 0 || v >= k)
        throw new RangeError(`LatentDiffusion.sample: classes must be integers in [0, ${k}), got ${given}`);
    });
    return out;
  }

  /**
   * Sample n images, yielding them batch by batch (the caller disposes each batch's images).
   * Validation happens before the first batch is computed.
   */
  async *sampleBatches(opts: SampleOptions): AsyncGenerator<SampleBatch> {
    const { n, batchSize, seed, guidance, labels } = this.check(opts);
    const scheduler = opts.scheduler ?? this.scheduler;
    const [h, w] = this.denoiser.inputSize;
    const c = this.denoiser.inChannels;
    const batches = Math.ceil(n / batchSize);
    const meter = new EtaMeter({ total: n });
    for (let bi = 0; bi < batches; bi++) {
      const start = bi * batchSize;
      const b = Math.min(batchSize, n - start);
      const noise = tf.tidy(() =>
        tf.concat(
          Array.from({ length: b }, (_, i) =>
            createRng(deriveStreamSeed(seed, NOISE_STREAM, start + i)).normal([1, h, w, c]),
          ),
          0,
        ),
      );
      const stepRngs: Rng[] = Array.from({ length: b }, (_, i) =>
        createRng(deriveStreamSeed(seed, STEP_STREAM, start + i)),
      );
      const batchLabels = labels.subarray(start, start + b);
      let latents: tf.Tensor4D;
      try {
        latents = await sampleLoop({
          denoiser: this.denoiser,
          scheduler,
          noise,
          steps: opts.steps,
          labels: batchLabels,
          guidance,
          rng: stepRngs,
          signal: opts.signal,
          onStep: (done, total) => {
            meter.update(start + (b * done) / total);
            opts.onProgress?.({ ...meter.progress('sample'), batch: bi, batches, step: done, steps: total });
          },
        });
      } finally {
        noise.dispose();
      }
      const images = this.decode(latents);
      latents.dispose();
      yield { images, labels: Int32Array.from(batchLabels), start };
    }
  }

  /** Sample n images [n, H, W, 3] in [-1, 1] (all batches concatenated); the caller owns them. */
  async sample(opts: SampleOptions): Promise<tf.Tensor4D> {
    const parts: tf.Tensor4D[] = [];
    try {
      for await (const batch of this.sampleBatches(opts)) parts.push(batch.images);
      return parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor4D);
    } finally {
      if (parts.length > 1) tf.dispose(parts);
    }
  }

  /** Normalised latents [B, h, w, c] to images [B, H, W, 3] clipped to [-1, 1]; the caller owns them. */
  decode(latents: tf.Tensor4D): tf.Tensor4D {
    const z = this.normalization ? (denormalizeLatents(latents, this.normalization) as tf.Tensor4D) : latents;
    try {
      const img = this.autoencoder.decode(z);
      const out = tf.clipByValue(img, -1, 1) as tf.Tensor4D;
      img.dispose();
      return out;
    } finally {
      if (z !== latents) z.dispose();
    }
  }

  /** The sampling options checked and completed, and the labels (so bad classes fail before the first batch). */
  private check(opts: SampleOptions) {
    const where = 'LatentDiffusion.sample';
    if (this.disposed) throw new Error(`${where}: the pipeline has been disposed`);
    if (!opts || typeof opts !== 'object') throw new TypeError(`${where}: options object expected`);
    if (!Number.isInteger(opts.n) || opts.n < 1)
      throw new RangeError(`${where}: n must be an integer >= 1, got ${opts.n}`);
    const batchSize = opts.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`${where}: batchSize must be an integer >= 1, got ${batchSize}`);
    const seed = opts.seed ?? 0;
    if (!Number.isFinite(seed)) throw new RangeError(`${where}: seed must be a finite number, got ${seed}`);
    if (opts.steps === undefined) throw new TypeError(`${where}: steps is required`);
    const guidance = opts.cfg == null ? null : typeof opts.cfg === 'number' ? { scale: opts.cfg } : opts.cfg;
    if (guidance) atDoor(where, () => checkGuidance(guidance, this.denoiser));
    if (opts.scheduler && typeof opts.scheduler.step !== 'function')
      throw new TypeError(`${where}: scheduler must be a Scheduler`);
    if (opts.scheduler) this.checkScheduler(opts.scheduler);
    return { n: opts.n, batchSize, seed, guidance, labels: this.labelsFor(opts.n, opts.classes, seed) };
  }
}
