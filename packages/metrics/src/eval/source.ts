/**
 * Where the evaluations read images from, one batch at a time, so that memory stays bounded however many
 * images there are.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One batch of a stream: the images, or an object carrying them (such as an `@ldmae/data` `Batch`). */
export type ImageBatchItem = tf.Tensor4D | { images: tf.Tensor4D };

/**
 * Images [n, H, W, 3] in [-1, 1], NHWC, as:
 * - one `tf.Tensor4D`: cut into batches of `batchSize` (the tensor stays the caller's);
 * - an array of `tf.Tensor4D` batches (they stay the caller's);
 * - an `Iterable` / `AsyncIterable` of batches (a generator, a data loader): each batch is consumed, i.e.
 *   disposed after use together with any other tensor fields of a `{images, ...}` item;
 * - a function returning such an iterable: a re-iterable source, called once per pass.
 */
export type ImageSource =
  | tf.Tensor4D
  | readonly tf.Tensor4D[]
  | Iterable<ImageBatchItem>
  | AsyncIterable<ImageBatchItem>
  | (() => Iterable<ImageBatchItem> | AsyncIterable<ImageBatchItem>);

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

function isIterable(x: unknown): x is AnyIterable<unknown> {
  return (
    x !== null &&
    typeof x === 'object' &&
    (typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

/** Throws unless `src` is one of the accepted source forms (the batches themselves are checked as they come). */
export function checkSource(fn: string, name: string, src: unknown, what = 'ImageSource'): void {
  if (src instanceof tf.Tensor) {
    if (src.isDisposed) throw new Error(`${fn}: ${name} is a disposed tensor`);
    return;
  }
  if (typeof src === 'function' || isIterable(src)) return;
  throw new TypeError(
    `${fn}: ${name} must be a ${what}: a tf.Tensor, an array or (async) iterable of batches, or a function returning one`,
  );
}

/** Whether the source can be read more than once. */
export function isReiterable(src: unknown): boolean {
  return src instanceof tf.Tensor || Array.isArray(src) || typeof src === 'function';
}

/** Number of images when it is known without reading the source. */
export function knownCount(src: unknown): number | undefined {
  if (src instanceof tf.Tensor) return src.shape[0];
  if (Array.isArray(src) && src.every((t) => t instanceof tf.Tensor))
    return src.reduce((a, t) => a + t.shape[0], 0);
  return undefined;
}

function disposeItem(item: unknown): void {
  if (item instanceof tf.Tensor) item.dispose();
  else if (item !== null && typeof item === 'object')
    for (const v of Object.values(item)) if (v instanceof tf.Tensor) v.dispose();
}

/**
 * The raw items of a source and whether this code owns them (and disposes them once the consumer has
 * moved on). A single tensor is cut along its first axis.
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
 * Image batches of a source, each checked to be a float32 [b, H, W, 3] tensor with b >= 1.
 * A batch is valid until the consumer asks for the next one.
 */
export async function* imageBatches(
  src: ImageSource,
  batchSize: number,
  fn: string,
  name: string,
): AsyncGenerator<tf.Tensor4D> {
  let index = 0;
  for await (const { item } of sourceItems<ImageBatchItem>(src, batchSize)) {
    const x = item instanceof tf.Tensor ? item : (item as { images?: unknown })?.images;
    if (
      !(x instanceof tf.Tensor) ||
      x.rank !== 4 ||
      x.shape[3] !== 3 ||
      x.shape[0] < 1 ||
      x.dtype !== 'float32'
    ) {
      throw new Error(
        `${fn}: batch ${index} of ${name} must be a float32 tf.Tensor4D [b, H, W, 3] in [-1, 1] (or {images}), got ${
          x instanceof tf.Tensor ? `${x.dtype} [${x.shape}]` : typeof x
        }`,
      );
    }
    index++;
    yield x as tf.Tensor4D;
  }
}

/** Throws unless `v` is a positive integer. */
export function checkPositiveInt(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`${fn}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}
