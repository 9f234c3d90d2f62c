/**
 * The seeded data loader: per-epoch shuffling, drop-last, prefetching (optionally in worker
 * threads, Node) and exact resume from any step.
 *
 * Everything a batch contains is a pure function of (seed, step): the permutation of an epoch comes
 * from (seed, epoch) and each sample's augmentation generator from (seed, epoch, position). So a
 * loader created with `startStep: s` yields exactly what an uninterrupted one yields from step s,
 * whatever the prefetch depth or worker count.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../dataset.js';
import { STREAM } from '../seeds.js';
import type { Transform } from '../transforms/transforms.js';
import { type BatchData, type BatchItem, buildBatch, type Layout, type SkippedItem } from './batch.js';
import { BatchSchedule, Prefetcher, SeededLoader } from './schedule.js';

/** Something that turns planned items into packed batches (the main thread, or a worker pool). */
export interface BatchExecutor {
  run(items: BatchItem[]): Promise<BatchData>;
  close(): Promise<void>;
}

/** Creates a worker-thread executor; registered by the Node entry. */
export type WorkerExecutorFactory = (
  dataset: Dataset,
  transform: Transform | null,
  layout: Layout,
  workers: number,
) => BatchExecutor;

let workerFactory: WorkerExecutorFactory | null = null;

/** @internal Called by the Node entry to make `workers > 0` available. */
export function setWorkerExecutorFactory(factory: WorkerExecutorFactory | null): void {
  workerFactory = factory;
}

/** Options of {@link DataLoader}. */
export interface LoaderOptions {
  /** Items per batch. */
  batchSize: number;
  /** Reshuffle every epoch (default true); false keeps data-set order. */
  shuffle?: boolean;
  /** Seed of shuffling and augmentation (default 0). */
  seed?: number;
  /** Drop the last incomplete batch of each epoch (default false). */
  dropLast?: boolean;
  /** Per-sample transform; byte images are mapped to [-1, 1] after it. */
  transform?: Transform | null;
  /** 'NHWC' (default; what every model of the project takes) or 'NCHW'. */
  layout?: Layout;
  /** Batches prepared ahead of the consumer (default 2). */
  prefetch?: number;
  /**
   * Worker threads that read, decode and augment (Node only; default 0 = the main thread).
   * Needs a data set and transform that can be described as plain data (built-in sources and
   * transforms can; `lambda` transforms and custom decoders cannot).
   */
  workers?: number;
  /** Global step of the first batch, for resuming (default 0). */
  startStep?: number;
  /** Called with the items a batch left out (data sets with onError 'skip'). */
  onSkip?: (skipped: SkippedItem[], step: number) => void;
}

/** One batch; the caller owns (and must dispose) `images` and `labels`. */
export interface Batch {
  /** [B, H, W, C] float32 in [-1, 1] (or [B, C, H, W] with layout 'NCHW'). */
  images: tf.Tensor4D;
  /** [B] int32, or null for unlabelled data. */
  labels: tf.Tensor1D | null;
  /** Data-set indices, in batch order. */
  indices: Int32Array;
  /** Global step (0-based) of this batch. */
  step: number;
  /** Epoch (0-based) of this batch. */
  epoch: number;
  /** Items left out of this batch (unreadable files with onError 'skip'). */
  skipped: SkippedItem[];
}

/** Resume state of a loader: store it in checkpoints and pass `step` back as `startStep`. */
export interface LoaderState {
  step: number;
  seed: number;
}

function checkCount(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0)
    throw new RangeError(`DataLoader: ${name} must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * Batches of a {@link Dataset} as NHWC float32 tensors in [-1, 1].
 *
 * Two ways to read it:
 * - `next()` hands out batches without end, epoch after epoch (the step advances; `seek` repositions).
 *   Trainers that take a loader (`trainVMAE`, `trainBaseline`, core's `train`) read it this way, so a
 *   run of more steps than an epoch simply continues into the next epochs.
 * - `for await (const batch of loader)` runs **one epoch**, as iterating a PyTorch DataLoader does:
 *   the batches from the loader's current step to the end of its epoch (a whole epoch for a new
 *   loader, or after a previous loop finished). The next `for await` runs the following epoch.
 *   Evaluations and `encodeLatents` read a loader this way (one pass).
 *
 * Either way every batch belongs to whoever takes it: dispose `images` and `labels` (a trainer or an
 * evaluation given the loader does so itself). A DataLoader is an `ImageBatchSource` of @ldmae/core.
 *
 * @example
 * const loader = new DataLoader(await mnist(), { batchSize: 64, seed: 1, transform: compose(pad(2), toRgb()) });
 * const { images, labels } = await loader.next(); // images [64, 32, 32, 3]
 * tf.dispose([images, labels]);
 * for await (const batch of loader) {
 *   // the rest of epoch 0 (156 more batches, the last of 16 of the 10,000 digits), then the loop ends
 *   tf.dispose([batch.images, batch.labels]);
 * }
 */
export class DataLoader extends SeededLoader<Batch> {
  readonly dataset: Dataset;
  readonly layout: Layout;
  readonly workers: number;
  private readonly transform: Transform | null;
  private readonly onSkip?: (skipped: SkippedItem[], step: number) => void;
  private readonly prefetcher: Prefetcher<BatchData>;
  private executor: BatchExecutor | null = null;
  private closed = false;

  constructor(dataset: Dataset, opts: LoaderOptions) {
    if (!dataset || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length)) {
      throw new TypeError('DataLoader: dataset must be a Dataset {length, get(index)}');
    }
    const o = opts ?? ({} as LoaderOptions);
    const schedule = new BatchSchedule(dataset.length, o);
    const layout = o.layout ?? 'NHWC';
    if (layout !== 'NHWC' && layout !== 'NCHW')
      throw new RangeError(`DataLoader: layout must be 'NHWC' or 'NCHW', got '${layout}'`);
    const prefetch = checkCount(o.prefetch ?? 2, 'prefetch');
    const workers = checkCount(o.workers ?? 0, 'workers');
    const startStep = checkCount(o.startStep ?? 0, 'startStep');
    const transform = o.transform ?? null;
    if (transform !== null && typeof transform.apply !== 'function')
      throw new TypeError('DataLoader: transform must be a Transform');
    if (workers > 0) {
      if (!workerFactory)
        throw new Error('DataLoader: workers need Node worker_threads (import @ldmae/data in Node)');
      if (!dataset.toSpec?.()) {
        throw new Error(
          'DataLoader: workers need a data set that can be described as plain data (built-in sources, subsets, no custom decode)',
        );
      }
      if (transform && transform.spec === null)
        throw new Error(
          'DataLoader: workers cannot run lambda transforms; use built-in transforms or workers: 0',
        );
    }
    super(schedule, startStep);
    this.dataset = dataset;
    this.layout = layout;
    this.workers = workers;
    this.transform = transform;
    this.onSkip = o.onSkip;
    this.prefetcher = new Prefetcher((step) => this.getExecutor().run(this.plan(step)), prefetch);
  }

  get batchSize(): number {
    return this.schedule.batchSize;
  }

  get seed(): number {
    return this.schedule.seed;
  }

  /** Continue from global step `step` (prefetched work is discarded). */
  seek(step: number): void {
    checkCount(step, 'step');
    this.prefetcher.clear();
    this.current = step;
  }

  /** The order in which epoch `epoch` visits data-set indices. */
  permutation(epoch: number): Int32Array {
    return this.schedule.permutation(epoch);
  }

  /** Items (data-set index and augmentation seed) of global step `step`. */
  plan(step: number): BatchItem[] {
    return this.schedule.plan(step, STREAM.augment);
  }

  private getExecutor(): BatchExecutor {
    if (!this.executor) {
      if (this.workers > 0 && workerFactory) {
        this.executor = workerFactory(this.dataset, this.transform, this.layout, this.workers);
      } else {
        const onError = this.dataset.onError ?? 'throw';
        this.executor = {
          run: (items) => buildBatch(this.dataset, items, this.transform, this.layout, onError),
          close: async () => {},
        };
      }
    }
    return this.executor;
  }

  /** The next batch as CPU arrays (no tensors), advancing the step. */
  async nextData(): Promise<BatchData & { step: number; epoch: number }> {
    if (this.closed) throw new Error('DataLoader: the loader is closed');
    const step = this.current;
    this.current = step + 1;
    const data = await this.prefetcher.take(step);
    if (data.skipped.length > 0) this.onSkip?.(data.skipped, step);
    return { ...data, step, epoch: this.schedule.epochOf(step) };
  }

  /** The next batch as tensors (the caller disposes them), advancing the step. */
  async next(): Promise<Batch> {
    const d = await this.nextData();
    const images = tf.tensor4d(d.images, d.shape, 'float32');
    const labels = d.labels ? tf.tensor1d(d.labels, 'int32') : null;
    return { images, labels, indices: d.indices, step: d.step, epoch: d.epoch, skipped: d.skipped };
  }

  /** Stop worker threads and drop prefetched work. */
  async close(): Promise<void> {
    this.closed = true;
    this.prefetcher.clear();
    const ex = this.executor;
    this.executor = null;
    await ex?.close();
  }
}
