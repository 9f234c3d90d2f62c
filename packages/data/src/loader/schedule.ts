/**
 * What every seeded loader shares: which items make up global step s (a pure function of the seed
 * and s) and a queue that prepares the next steps ahead of the consumer.
 */
import { derivedRng, deriveSeed } from '@ldmae/core';
import { STREAM } from '../seeds.js';
import type { BatchItem } from './batch.js';
import type { LoaderState } from './loader.js';

/** Options of {@link BatchSchedule}. */
export interface ScheduleOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

/**
 * Epoch permutations and per-sample seeds. Epoch e visits the items in the order
 * `permutation(e)` (from (seed, e)); the sample at position p of epoch e gets the seed
 * deriveSeed(seed, stream, e, p).
 */
export class BatchSchedule {
  readonly length: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly stepsPerEpoch: number;
  private cache: { epoch: number; perm: Int32Array } | null = null;

  constructor(length: number, opts: ScheduleOptions) {
    if (!Number.isInteger(length) || length <= 0) throw new RangeError('loader: the data set is empty');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize <= 0) {
      throw new RangeError(`loader: batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    const seed = opts.seed ?? 0;
    if (!Number.isFinite(seed)) throw new TypeError(`loader: seed must be a finite number, got ${seed}`);
    this.length = length;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.seed = seed;
    this.dropLast = opts.dropLast ?? false;
    this.stepsPerEpoch = this.dropLast
      ? Math.floor(length / this.batchSize)
      : Math.ceil(length / this.batchSize);
    if (this.stepsPerEpoch === 0) {
      throw new RangeError(
        `batchSize ${this.batchSize} exceeds the ${length} items and dropLast is set, so an epoch has no batch`,
      );
    }
  }

  /** The order in which epoch `epoch` visits item indices. */
  permutation(epoch: number): Int32Array {
    if (this.cache?.epoch === epoch) return this.cache.perm;
    const n = this.length;
    const perm = this.shuffle
      ? derivedRng(this.seed, STREAM.permutation, epoch).permutation(n)
      : Int32Array.from({ length: n }, (_, i) => i);
    this.cache = { epoch, perm };
    return perm;
  }

  /** Epoch of global step `step`. */
  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  /** Items (index and per-sample seed of stream `stream`) of global step `step`. */
  plan(step: number, stream: number): BatchItem[] {
    const epoch = this.epochOf(step);
    const k = step - epoch * this.stepsPerEpoch;
    const perm = this.permutation(epoch);
    const start = k * this.batchSize;
    const end = Math.min(start + this.batchSize, this.length);
    const items: BatchItem[] = [];
    for (let p = start; p < end; p++)
      items.push({ index: perm[p], seed: deriveSeed(this.seed, stream, epoch, p) });
    return items;
  }
}

/** Keeps the results of the next `depth` steps in flight. */
export class Prefetcher<T> {
  private queue = new Map<number, Promise<T>>();

  constructor(
    private readonly produce: (step: number) => Promise<T>,
    readonly depth: number,
  ) {}

  private request(step: number): Promise<T> {
    let p = this.queue.get(step);
    if (!p) {
      p = this.produce(step);
      // A prefetched step may fail before anyone awaits it; the failure surfaces at its turn.
      p.catch(() => {});
      this.queue.set(step, p);
    }
    return p;
  }

  /** The result of `step`, starting steps step+1 .. step+depth in the background. */
  async take(step: number): Promise<T> {
    const p = this.request(step);
    for (let s = step + 1; s <= step + this.depth; s++) this.request(s);
    try {
      return await p;
    } finally {
      if (this.queue.get(step) === p) this.queue.delete(step);
    }
  }

  /** Forget everything in flight (after a seek). */
  clear(): void {
    this.queue.clear();
  }
}

/**
 * What a seeded loader is beside its batches: the global step of the next batch in a
 * {@link BatchSchedule}, its resume state, and reading one epoch. `DataLoader` and `LatentLoader` add
 * how a batch is made.
 */
export abstract class SeededLoader<B> implements AsyncIterable<B> {
  protected current: number;

  protected constructor(
    protected readonly schedule: BatchSchedule,
    startStep: number,
  ) {
    this.current = startStep;
  }

  get stepsPerEpoch(): number {
    return this.schedule.stepsPerEpoch;
  }

  /** Global step of the next batch. */
  get step(): number {
    return this.current;
  }

  /** Epoch of the next batch. */
  get epoch(): number {
    return this.schedule.epochOf(this.current);
  }

  /** State to store in a checkpoint; pass `step` back as `startStep` (or to {@link seek}). */
  state(): LoaderState {
    return { step: this.current, seed: this.schedule.seed };
  }

  /** Continue from global step `step` (prefetched work is discarded). */
  abstract seek(step: number): void;

  /** The next batch as tensors (the caller disposes them), advancing the step. */
  abstract next(): Promise<B>;

  /**
   * The remaining batches of the current epoch: from the loader's step to the end of its epoch (a
   * whole epoch when the loader is at an epoch's start). The caller disposes each batch's tensors.
   */
  async *epochBatches(): AsyncGenerator<B, void, undefined> {
    const end = (this.epoch + 1) * this.stepsPerEpoch;
    while (this.current < end) yield await this.next();
  }

  /**
   * One epoch, for `for await (const batch of loader)`: the same batches as {@link epochBatches}.
   * Leaving the loop early leaves the loader at the next unread step, so a later loop finishes that
   * epoch. To keep drawing across epochs, call {@link next} (as trainers do).
   */
  [Symbol.asyncIterator](): AsyncGenerator<B, void, undefined> {
    return this.epochBatches();
  }
}
