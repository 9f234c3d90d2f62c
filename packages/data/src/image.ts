/**
 * The CPU-side image type every source, codec and transform works on.
 *
 * Decoding and augmentation stay in plain typed arrays (off the tfjs thread, movable to worker
 * threads); the loader uploads a whole batch as one NHWC tensor.
 */

/**
 * An image in HWC order (row-major, channels last).
 *
 * Two value conventions, told apart by the array type:
 * - `Uint8Array`: bytes 0..255, as decoded from files;
 * - `Float32Array`: values in [-1, 1], as produced by {@link normalizeImage} (the models' range).
 */
export interface Image {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
}

/** A data-set item: an image and, for labelled data, an integer class label. */
export interface Sample {
  image: Image;
  label?: number;
  /** Where the item came from (a file path), for error messages. */
  file?: string;
}

/** Check that `image` is a well-formed {@link Image}; `name` names it in the error. */
export function checkImage(image: Image, name = 'image'): void {
  if (!image || typeof image !== 'object') throw new TypeError(`${name} must be an Image object`);
  const { data, height, width, channels } = image;
  if (!(data instanceof Uint8Array || data instanceof Float32Array)) {
    throw new TypeError(`${name}.data must be a Uint8Array or Float32Array`);
  }
  for (const [k, v] of [
    ['height', height],
    ['width', width],
    ['channels', channels],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`${name}.${k} must be a positive integer, got ${v}`);
  }
  if (data.length !== height * width * channels) {
    throw new RangeError(
      `${name}.data has ${data.length} values, expected height*width*channels = ${height}*${width}*${channels}`,
    );
  }
}

/** Lookup table byte -> [-1, 1] with torchvision's float32 arithmetic: ((b / 255) - 0.5) / 0.5. */
export const BYTE_TO_UNIT: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = Math.fround(Math.fround(Math.fround(b / 255) - 0.5) / 0.5);
  return t;
})();

/**
 * Bytes to the models' range: x = b / 127.5 - 1 (ToTensor then Normalize(0.5, 0.5)).
 * Float images are returned unchanged (they already hold [-1, 1] values).
 */
export function normalizeImage(image: Image): Image {
  checkImage(image);
  if (image.data instanceof Float32Array) return image;
  const src = image.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = BYTE_TO_UNIT[src[i]];
  return { data: out, height: image.height, width: image.width, channels: image.channels };
}

/**
 * One value in [-1, 1] to a byte as the reference saves samples:
 * `clamp(127.5 x + 128, 0, 255)` then a truncating cast to uint8, i.e. round(127.5 (x + 1)) with
 * halves rounded up. (Rounding 127.5 x + 128 instead would turn every normalised byte b into b + 1.)
 */
export function unitToByte(x: number): number {
  const v = 127.5 * x + 128;
  if (!(v > 0)) return 0; // also maps NaN to 0, as the cast of a clamped NaN does in practice
  return v >= 255 ? 255 : Math.floor(v);
}

/** Float image in [-1, 1] to bytes (floor(127.5 x + 128), clamped to [0, 255]); uint8 images are returned unchanged. */
export function toUint8Image(image: Image): Image {
  checkImage(image);
  if (image.data instanceof Uint8Array) return image;
  const src = image.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = unitToByte(src[i]);
  return { data: out, height: image.height, width: image.width, channels: image.channels };
}

/**
 * Split a batch of NHWC values in [-1, 1] (for example `await tensor.data()` of a [B, H, W, C]
 * tensor) into byte images.
 */
export function imagesFromBatch(data: ArrayLike<number>, shape: readonly number[]): Image[] {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError(`imagesFromBatch: shape must be [B, H, W, C] of positive integers, got [${shape}]`);
  }
  const [b, h, w, c] = shape;
  const per = h * w * c;
  if (data.length !== b * per)
    throw new RangeError(
      `imagesFromBatch: data has ${data.length} values, shape [${shape}] needs ${b * per}`,
    );
  const out: Image[] = [];
  for (let i = 0; i < b; i++) {
    const px = new Uint8Array(per);
    for (let j = 0; j < per; j++) px[j] = unitToByte(data[i * per + j]);
    out.push({ data: px, height: h, width: w, channels: c });
  }
  return out;
}
