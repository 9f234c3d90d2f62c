/**
 * How the evaluations read their inputs, one batch at a time, so that memory stays bounded however many
 * images there are: images through @ldmae/core's `ImageBatchSource` contract, aligned label maps
 * through {@link sourceItems}.
 */
import { type ImageBatch, type ImageBatchSource, readImageBatches } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * One batch of images: a `tf.Tensor4D`, or an object carrying it in `images` (such as an @ldmae/data
 * `Batch`).
 * @deprecated The same type as `ImageBatch` of @ldmae/core; use that name.
 */
export type ImageBatchItem = ImageBatch;

/**
 * Images [n, H, W, 3] in [-1, 1], NHWC, for the evaluations.
 * @deprecated The same type as `ImageBatchSource` of @ldmae/core (a whole-set tensor, an array, an
 * (async) iterable such as a `DataLoader`, a function of the step, a function returning an iterable);
 * use that name.
 */
export type ImageSource = ImageBatchSource;

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

function isIterable(x: unknown): x is AnyIterable<unknown> {
  return (
    x !== null &&
    typeof x === 'object' &&
    (typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

/** Throws unless `src` is a tensor, an (async) iterable or a function returning one (segmentation maps). */
export function checkSource(name: string, src: unknown, what: string): void {
  if (src instanceof tf.Tensor) {
    if (src.isDisposed) throw new Error(`${name} is a disposed tensor`);
    return;
  }
  if (typeof src === 'function' || isIterable(src)) return;
  throw new TypeError(
    `${name} must be a ${what}: a tf.Tensor, an array or (async) iterable of batches, or a function returning one`,
  );
}

function disposeItem(item: unknown): void {
  if (item instanceof tf.Tensor) item.dispose();
  else if (item !== null && typeof item === 'object')
    for (const v of Object.values(item)) if (v instanceof tf.Tensor) v.dispose();
}

/**
 * The raw items of a non-image source (segmentation maps) and whether this code owns them (and disposes
 * them once the consumer has moved on), with the ownership rules of image sources: a single tensor is
 * cut along its first axis, array entries stay the caller's, iterable items are consumed.
 */
export async function* sourceItems<T>(
  src: unknown,
  batchSize: number,
): AsyncGenerator<{ item: T; owned: boolean }> {
  if (src instanceof tf.Tensor) {
    const shape: number[] = src.shape;
    const n = shape[0];
    for (let b0 = 0; b0 < n; b0 += batchSize) {
      const size = Math.min(batchSize, n - b0);
      if (b0 === 0 && size === n) {
        yield { item: src as T, owned: false };
        continue;
      }
      const begin = shape.map((_, i) => (i === 0 ? b0 : 0));
      const sz = shape.map((d, i) => (i === 0 ? size : d));
      const part = tf.slice(src, begin, sz);
      try {
        yield { item: part as T, owned: true };
      } finally {
        part.dispose();
      }
    }
    return;
  }
  const owned = !Array.isArray(src);
  const it = (typeof src === 'function' ? (src as () => unknown)() : src) as AnyIterable<T>;
  if (!isIterable(it)) throw new TypeError('the source function must return an (async) iterable of batches');
  for await (const item of it as AsyncIterable<T>) {
    try {
      yield { item, owned };
    } finally {
      if (owned) disposeItem(item);
    }
  }
}

/**
 * Image batches of a source (one pass, read by core's `readImageBatches`), each checked to be a float32
 * [b, H, W, 3] tensor with b >= 1. A batch is valid until the consumer asks for the next one; batches the
 * source produced are then disposed.
 */
export async function* imageBatches(
  src: ImageBatchSource,
  batchSize: number,
  fn: string,
  name: string,
): AsyncGenerator<tf.Tensor4D> {
  for await (const { images } of readImageBatches(src, {
    caller: fn,
    argument: name,
    batchSize,
    channels: 3,
  }))
    yield images;
}
