/**
 * The one data contract of LDMAE-TS: where every trainer, evaluation and encoder reads images from
 * ({@link ImageBatchSource}), how they read it ({@link readImageBatches}) and who disposes what.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from './checks.js';

/**
 * A loader that hands out batches one at a time without end, across epochs, and can be repositioned:
 * @ldmae/data's `DataLoader` and `LatentLoader` are ones. Trainers (core's `train`, `trainVMAE`,
 * `trainBaseline`, `DiffusionTrainer`) draw one batch per step with `next()` and, when they resume from
 * a checkpoint at step s, call `seek(s)` first. Every batch `next()` returns belongs to the caller.
 * `next()` resolving to `null` or `undefined` ends the data.
 */
export interface BatchLoader<B> {
  /** The next batch, advancing the loader by one step (epochs follow one another). */
  next(): Promise<B | null | undefined>;
  /** Continue at global step `step` (0-based). */
  seek?(step: number): void;
}

function isIterableObject(x: object): boolean {
  return (
    typeof (x as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function' ||
    typeof (x as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function'
  );
}

/**
 * Whether `x` is read as a {@link BatchLoader} by a trainer: an object with a `next()` method that is
 * not an iterator (has no `[Symbol.iterator]` / `[Symbol.asyncIterator]`), or that also has `seek()`
 * (a `DataLoader`, which is an async iterable too). Generators are iterables, not loaders.
 */
export function isBatchLoader(x: unknown): x is BatchLoader<unknown> {
  if (x === null || typeof x !== 'object' || x instanceof tf.Tensor) return false;
  const o = x as { next?: unknown; seek?: unknown };
  return typeof o.next === 'function' && (typeof o.seek === 'function' || !isIterableObject(x));
}

/**
 * One batch of images: a tensor [b, H, W, C] (float32, in [-1, 1], NHWC), or an object that carries it
 * in `images`, such as a `Batch` of @ldmae/data's `DataLoader` (its `labels`, and any other tensor
 * field, are released together with the images). The rank, dtype and batch size are checked when the
 * batch is read, so the type takes any `tf.Tensor` (results of generic tfjs ops need no cast).
 */
export type ImageBatch = tf.Tensor | { images: tf.Tensor; labels?: tf.Tensor | null };

/**
 * A function of the 0-based step that returns that step's batch (or a promise of it); returning `null`
 * or `undefined` ends the data. The best source for an exact resume: a resumed trainer calls it from
 * the checkpoint's step on.
 */
export type ImageBatchFn = (
  step: number,
) => ImageBatch | null | undefined | Promise<ImageBatch | null | undefined>;

/**
 * A function returning a fresh (async) iterable of batches, for example `() => loader` or
 * `() => makeGenerator()`: a source that can be read more than once. It is called once per pass.
 */
export type ImageBatchFactory = () => Iterable<ImageBatch> | AsyncIterable<ImageBatch>;

/**
 * Where images come from, for every function of LDMAE-TS that reads images (`trainVMAE`,
 * `trainBaseline`, `encodeLatents`, `evaluateReconstruction`, `evaluateGeneration`, `computeReference`,
 * `latentSmoothness`, `perceptualCompression`):
 *
 * - a `tf.Tensor4D`: the whole set, cut into batches of the consumer's `batchSize`;
 * - an array of batches;
 * - an `Iterable` or `AsyncIterable` of batches: a generator, an async generator, or a `DataLoader`
 *   (iterating a `DataLoader` runs one epoch);
 * - a function of the step returning that step's batch ({@link ImageBatchFn});
 * - a function returning a fresh (async) iterable ({@link ImageBatchFactory}).
 *
 * Each batch is an {@link ImageBatch}.
 *
 * **How much is read.** An evaluation or an encoder reads one pass: the whole tensor or array, the
 * iterable until it ends (one epoch of a `DataLoader`), a step function until it returns
 * `null` / `undefined`. A trainer draws one batch per step until its `steps`: it draws from a
 * `DataLoader` with `next()` across epochs (and `seek`s it when resuming); it cycles through a tensor
 * (in order, the last batch of each pass possibly smaller), an array and a factory pass after pass;
 * it reads a one-shot iterable once and stops when it ends ("data-exhausted").
 *
 * **Who disposes what.** Tensors you pass stay yours: a whole-set tensor and the batches of an array
 * are never disposed. Batches produced on demand (by an iterable, a generator, a `DataLoader`, a
 * function) belong to the consumer, which disposes each one (its images, its labels and any other
 * tensor field) once it is done with it, also when it stops early or fails.
 */
export type ImageBatchSource =
  | tf.Tensor4D
  | Iterable<ImageBatch>
  | AsyncIterable<ImageBatch>
  | ImageBatchFn
  | ImageBatchFactory;

/** Options of {@link readImageBatches} and {@link checkImageBatchSource}. */
export interface ReadImageBatchesOptions {
  /** Name of the function reading, for messages (e.g. 'trainBaseline'). */
  caller: string;
  /** Name of the argument holding the source, for messages. Default 'data'. */
  argument?: string;
  /**
   * What the argument should be, for the message of a wrong source. Default 'an ImageBatchSource'
   * (e.g. 'an ImageBatchSource or a GenerationSampler').
   */
  expected?: string;
  /** Images per batch when the source is one tensor (required then). */
  batchSize?: number;
  /**
   * 'pass' (default): read the source once, as an evaluation does. 'train': draw batches for a trainer
   * (loaders across epochs, tensors / arrays / factories pass after pass); see {@link ImageBatchSource}.
   */
  mode?: 'pass' | 'train';
  /**
   * 'train' mode: the global step of the first batch (a resumed run's step). A step function is called
   * from it, a tensor or an array is entered at the matching batch, a loader is `seek`ed to it when
   * it is > 0. Default 0.
   */
  startStep?: number;
  /** Channels every batch must have (e.g. 3); any when absent. */
  channels?: number;
}

/** One batch handed out by {@link readImageBatches}. */
export interface ImageBatchRead {
  /** [b, H, W, C] float32, b >= 1. */
  images: tf.Tensor4D;
  /** The batch's `labels` tensor, or null. */
  labels: tf.Tensor | null;
  /** The batch as the source gave it (a `DataLoader` batch also has `indices`, `step`, `epoch`). */
  item: ImageBatch;
  /** 0-based position of the batch in this read ('train' mode: its global step). */
  index: number;
}

type SourceKind = 'tensor' | 'array' | 'iterable' | 'loader' | 'function';

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x instanceof tf.Tensor) return `a ${x.dtype} tensor [${x.shape}]`;
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (typeof x === 'object') {
    const name = (x as { constructor?: { name?: string } }).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return typeof x;
}

function sourceError(o: ReadImageBatchesOptions, src: unknown): TypeError {
  const arg = o.argument ?? 'data';
  const expected = o.expected ?? 'an ImageBatchSource';
  const loader = o.mode === 'train' ? ', a loader with next()' : '';
  return new TypeError(
    `${o.caller}: ${arg} must be ${expected}: a tf.Tensor4D (the whole set), an array, Iterable or ` +
      `AsyncIterable of image batches (tf.Tensor4D or { images }), a DataLoader${loader}, or a function ` +
      `(step) => batch; got ${describe(src)}`,
  );
}

function kindOf(src: unknown, o: ReadImageBatchesOptions): SourceKind {
  if (src instanceof tf.Tensor) return 'tensor';
  if (typeof src === 'function') return 'function';
  if (src === null || typeof src !== 'object') throw sourceError(o, src);
  if (o.mode === 'train' && isBatchLoader(src)) return 'loader';
  if (Array.isArray(src)) return 'array';
  if (isIterableObject(src)) return 'iterable';
  throw sourceError(o, src);
}

/**
 * Check `src` against {@link ImageBatchSource} (and `opts`) before any work, without reading it.
 * Throws a TypeError / RangeError naming `opts.caller` and `opts.argument` and saying what was expected.
 * The batches themselves are checked as they are read.
 */
export function checkImageBatchSource(src: unknown, opts: ReadImageBatchesOptions): void {
  const arg = opts.argument ?? 'data';
  const kind = kindOf(src, opts);
  if (kind !== 'tensor') return;
  const t = src as tf.Tensor;
  if (t.isDisposed) throw new Error(`${opts.caller}: ${arg} is a disposed tensor`);
  if (t.rank !== 4 || t.shape[0] < 1)
    throw new RangeError(
      `${opts.caller}: ${arg} must be a tf.Tensor4D [n, H, W, C] with n >= 1 (the whole set), got [${t.shape}]`,
    );
  const bs = opts.batchSize;
  if (bs === undefined)
    throw new TypeError(
      `${opts.caller}: batchSize is required when ${arg} is one tensor (the whole set, read in batches of batchSize)`,
    );
  checkNumber(bs, `${opts.caller}: batchSize`, 'a positive integer');
}

/** Whether {@link readImageBatches} can read `src` more than once with the same result. */
export function isReiterableImageSource(src: unknown): boolean {
  return src instanceof tf.Tensor || Array.isArray(src) || typeof src === 'function';
}

/** Number of images in one pass of `src` when it is known without reading it (a tensor, an array of tensors). */
export function imageSourceCount(src: unknown): number | undefined {
  if (src instanceof tf.Tensor) return src.shape[0];
  if (!Array.isArray(src)) return undefined;
  let n = 0;
  for (const b of src) {
    const x = b instanceof tf.Tensor ? b : (b as { images?: unknown } | null)?.images;
    if (!(x instanceof tf.Tensor)) return undefined;
    n += x.shape[0];
  }
  return n;
}

function releaseItem(item: unknown): void {
  if (item instanceof tf.Tensor) item.dispose();
  else if (item !== null && typeof item === 'object')
    for (const v of Object.values(item)) if (v instanceof tf.Tensor) v.dispose();
}

function isBatchLike(x: unknown): boolean {
  return x instanceof tf.Tensor || (x !== null && typeof x === 'object' && 'images' in x);
}

/**
 * Read an {@link ImageBatchSource} batch by batch, checking each batch (a float32 `tf.Tensor4D`
 * [b, H, W, C] with b >= 1, or `{ images }` holding one) and releasing what the consumer owns.
 *
 * A batch handed out stays valid until the consumer asks for the next one or ends the iteration; then
 * the reader disposes it if it was produced by the source (see {@link ImageBatchSource}: tensors the
 * user passed, a whole-set tensor and array entries, are never disposed). Slices cut from a whole-set
 * tensor are disposed the same way. Break out of the loop (or call `return()`) to stop early: nothing
 * leaks. Throws as {@link checkImageBatchSource} does, and for a wrong batch with a message naming
 * its position. In 'train' mode `src` may also be any {@link BatchLoader} of image batches (an object
 * with `next()`, without being iterable).
 *
 * @example
 * for await (const { images } of readImageBatches(source, { caller: 'myEval', batchSize: 32 })) {
 *   total += (await tf.sum(images).data())[0]; // `images` is released when the loop moves on
 * }
 */
export async function* readImageBatches(
  src: ImageBatchSource | BatchLoader<ImageBatch>,
  opts: ReadImageBatchesOptions,
): AsyncGenerator<ImageBatchRead, void, undefined> {
  checkImageBatchSource(src, opts);
  const o = opts;
  const arg = o.argument ?? 'data';
  const train = o.mode === 'train';
  const start = train ? (o.startStep ?? 0) : 0;
  checkNumber(start, `${o.caller}: startStep`, 'an integer >= 0');
  const kind = kindOf(src, o);
  let index = start;

  const take = (item: unknown, owned: boolean): ImageBatchRead => {
    const images = item instanceof tf.Tensor ? item : (item as { images?: unknown } | null)?.images;
    const labels = (item as { labels?: unknown } | null)?.labels;
    const ok =
      images instanceof tf.Tensor &&
      !images.isDisposed &&
      images.rank === 4 &&
      images.shape[0] >= 1 &&
      images.dtype === 'float32' &&
      (o.channels === undefined || images.shape[3] === o.channels);
    if (!ok) {
      const c = o.channels ?? 'C';
      const got =
        images instanceof tf.Tensor
          ? images.isDisposed
            ? 'a disposed tensor'
            : `${images.dtype} [${images.shape}]`
          : describe(item);
      if (owned) releaseItem(item);
      throw new Error(
        `${o.caller}: batch ${index} of ${arg} must be a float32 tf.Tensor4D [b, H, W, ${c}] in [-1, 1] ` +
          `(or { images }), got ${got}`,
      );
    }
    return {
      images: images as tf.Tensor4D,
      labels: labels instanceof tf.Tensor ? labels : null,
      item: item as ImageBatch,
      index,
    };
  };

  /** Hand out one batch; one the consumer owns is released when it moves on (or stops). */
  async function* give(item: unknown, owned: boolean): AsyncGenerator<ImageBatchRead, void> {
    const read = take(item, owned);
    try {
      yield read;
    } finally {
      if (owned) releaseItem(item);
    }
    index++;
  }

  if (kind === 'tensor' || kind === 'array') {
    // A whole-set tensor is cut into slices of batchSize (one batch is the tensor itself).
    const t = src as tf.Tensor4D;
    const a = src as readonly ImageBatch[];
    const bs = o.batchSize as number;
    const per = kind === 'array' ? a.length : Math.ceil(t.shape[0] / bs);
    for (let k = train ? start % per : 0; k < per; ) {
      if (kind === 'array') yield* give(a[k], false);
      else if (per === 1) yield* give(t, false);
      else yield* give(tf.slice(t, [k * bs, 0, 0, 0], [Math.min(bs, t.shape[0] - k * bs), -1, -1, -1]), true);
      if (++k === per) {
        if (!train) return;
        k = 0;
      }
    }
    return;
  }

  /** One pass over an (async) iterable; its batches are owned unless it is an array. Returns the count. */
  async function* pass(
    it: Iterable<unknown> | AsyncIterable<unknown>,
  ): AsyncGenerator<ImageBatchRead, number> {
    const owned = !Array.isArray(it);
    let count = 0;
    for await (const item of it as AsyncIterable<unknown>) {
      yield* give(item, owned);
      count++;
    }
    return count;
  }

  if (kind === 'iterable') {
    yield* pass(src as Iterable<unknown> | AsyncIterable<unknown>);
    return;
  }

  if (kind === 'loader') {
    const loader = src as BatchLoader<ImageBatch>;
    if (start > 0 && typeof loader.seek === 'function') loader.seek(start);
    for (let item = await loader.next(); item !== null && item !== undefined; item = await loader.next())
      yield* give(item, true);
    return;
  }

  // A function: a step function or a factory, told apart by what its first call returns.
  const f = src as (step: number) => unknown;
  let r = await f(index);
  if (r === null || r === undefined) return;
  if (!isBatchLike(r) && typeof r === 'object' && isIterableObject(r)) {
    for (;;) {
      const count = yield* pass(r as Iterable<unknown>);
      if (!train || count === 0) return;
      r = await f(index);
      if (r === null || r === undefined) return;
      if (isBatchLike(r) || typeof r !== 'object' || !isIterableObject(r)) {
        if (isBatchLike(r)) releaseItem(r);
        throw new TypeError(
          `${o.caller}: the function given as ${arg} returned an iterable first, then ${describe(r)}; ` +
            'a factory must return a fresh (async) iterable of batches on every call',
        );
      }
    }
  }
  for (; r !== null && r !== undefined; r = await f(index)) yield* give(r, true);
}
