/** The image container of the pixel metrics: a flat typed array plus an NHWC shape. */
import { atDoor } from '@ldmae/core';

/** Pixel storage accepted by the image metrics. */
export type PixelArray = Float32Array | Float64Array | Uint8Array | Uint8ClampedArray;

/**
 * A batch of images, NHWC: `data[((i * h + y) * w + x) * c + ch]` is channel `ch` of pixel (y, x) of
 * image i. This is the layout of `tensor.dataSync()` for a tfjs image batch and of decoded PNG/JPEG
 * pixels.
 */
export interface ImageBatch {
  data: PixelArray;
  /** [n, h, w, c]. */
  shape: readonly [number, number, number, number];
}

/**
 * Wraps pixel data as an {@link ImageBatch} after checking that the shape matches its length.
 *
 * @param data - NHWC pixels.
 * @param shape - [n, h, w, c] (a single image: [1, h, w, c]).
 */
export function imageBatch(data: PixelArray, shape: readonly [number, number, number, number]): ImageBatch {
  const batch = { data, shape } as ImageBatch;
  atDoor('imageBatch', () => checkBatch('data', batch));
  return batch;
}

/** Validates one batch and returns its shape (run it with atDoor). Internal. */
export function checkBatch(name: string, x: ImageBatch): [number, number, number, number] {
  if (x === null || typeof x !== 'object') throw new TypeError(`${name} must be an ImageBatch {data, shape}`);
  const { data, shape } = x;
  if (
    !(
      data instanceof Float32Array ||
      data instanceof Float64Array ||
      data instanceof Uint8Array ||
      data instanceof Uint8ClampedArray
    )
  ) {
    throw new TypeError(`${name}.data must be a Float32Array, Float64Array, Uint8Array or Uint8ClampedArray`);
  }
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new RangeError(
      `${name}.shape must be [n, h, w, c] of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  const [n, h, w, c] = shape;
  if (data.length !== n * h * w * c) {
    throw new RangeError(
      `${name}.data has ${data.length} values but shape [${shape.join(', ')}] needs ${n * h * w * c}`,
    );
  }
  if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v - v !== 0) throw new RangeError(`${name}.data[${i}] is ${v}; pixels must be finite`);
    }
  }
  return [n, h, w, c];
}

/** Validates a pair of batches of one shape and returns it (run it with atDoor). Internal. */
export function checkPair(a: ImageBatch, b: ImageBatch): [number, number, number, number] {
  const sa = checkBatch('a', a);
  const sb = checkBatch('b', b);
  if (sa.some((v, i) => v !== sb[i])) {
    throw new RangeError(`a and b must have the same shape, got [${sa.join(', ')}] and [${sb.join(', ')}]`);
  }
  return sa;
}
