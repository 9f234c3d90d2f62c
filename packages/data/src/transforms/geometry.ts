/**
 * Pixel-exact geometric operations on {@link Image}s: crop, flip, pad, channel conversion.
 * Each returns a new image and never modifies its input.
 */
import { checkImage, type Image } from '../image.js';

function like(image: Image, n: number): Uint8Array | Float32Array {
  return image.data instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n);
}

/**
 * Crop the box (top, left, height, width). Parts of the box outside the image are filled with
 * `fill` (default 0, as Pillow's `crop` does).
 */
export function cropImage(
  image: Image,
  top: number,
  left: number,
  height: number,
  width: number,
  fill = 0,
): Image {
  checkImage(image);
  for (const [k, v] of [
    ['top', top],
    ['left', left],
  ] as const) {
    if (!Number.isInteger(v)) throw new RangeError(`cropImage: ${k} must be an integer, got ${v}`);
  }
  if (!Number.isInteger(height) || height <= 0 || !Number.isInteger(width) || width <= 0) {
    throw new RangeError(`cropImage: height and width must be positive integers, got ${height} x ${width}`);
  }
  const c = image.channels;
  const out = like(image, height * width * c);
  if (fill !== 0) out.fill(fill);
  const y0 = Math.max(0, -top);
  const y1 = Math.min(height, image.height - top);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, image.width - left);
  if (x1 > x0) {
    for (let y = y0; y < y1; y++) {
      const from = ((y + top) * image.width + left + x0) * c;
      out.set(image.data.subarray(from, from + (x1 - x0) * c), (y * width + x0) * c);
    }
  }
  return { data: out, height, width, channels: c };
}

/** Mirror left-right. */
export function flipHorizontal(image: Image): Image {
  checkImage(image);
  const { height, width, channels: c, data } = image;
  const out = like(image, data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * c;
    for (let x = 0; x < width; x++) {
      const s = row + (width - 1 - x) * c;
      const d = row + x * c;
      for (let ch = 0; ch < c; ch++) out[d + ch] = data[s + ch];
    }
  }
  return { data: out, height, width, channels: c };
}

/** Border handling of {@link padImage}, as torchvision's Pad / numpy.pad. */
export type PadMode = 'constant' | 'edge' | 'reflect' | 'symmetric';

function sourceIndex(i: number, n: number, mode: PadMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'edge') return i < 0 ? 0 : n - 1;
  if (mode === 'reflect') {
    if (n === 1) return 0;
    const m = 2 * (n - 1);
    const j = ((i % m) + m) % m;
    return j >= n ? m - j : j;
  }
  const m = 2 * n; // symmetric: the edge pixel is repeated
  const j = ((i % m) + m) % m;
  return j >= n ? m - 1 - j : j;
}

/**
 * Pad by [left, top, right, bottom] pixels. 'constant' fills with `fill` (a byte for uint8
 * images, a value in [-1, 1] for float ones); the other modes follow numpy.pad.
 */
export function padImage(
  image: Image,
  padding: readonly [number, number, number, number],
  fill = 0,
  mode: PadMode = 'constant',
): Image {
  checkImage(image);
  if (padding.length !== 4 || padding.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new RangeError(
      `padImage: padding must be [left, top, right, bottom] of non-negative integers, got [${padding}]`,
    );
  }
  if (!['constant', 'edge', 'reflect', 'symmetric'].includes(mode)) {
    throw new RangeError(`padImage: mode must be constant, edge, reflect or symmetric, got '${mode}'`);
  }
  const [l, t, r, b] = padding;
  const { height, width, channels: c, data } = image;
  const oh = height + t + b;
  const ow = width + l + r;
  const out = like(image, oh * ow * c);
  for (let y = 0; y < oh; y++) {
    const sy = y - t;
    for (let x = 0; x < ow; x++) {
      const sx = x - l;
      const d = (y * ow + x) * c;
      if (mode === 'constant' && (sy < 0 || sy >= height || sx < 0 || sx >= width)) {
        for (let ch = 0; ch < c; ch++) out[d + ch] = fill;
        continue;
      }
      const s = (sourceIndex(sy, height, mode) * width + sourceIndex(sx, width, mode)) * c;
      for (let ch = 0; ch < c; ch++) out[d + ch] = data[s + ch];
    }
  }
  return { data: out, height: oh, width: ow, channels: c };
}

/** Grey (1 channel) to RGB by repeating the channel; RGB images are returned unchanged. */
export function greyToRgb(image: Image): Image {
  checkImage(image);
  if (image.channels === 3) return image;
  if (image.channels !== 1)
    throw new RangeError(`greyToRgb: image must have 1 or 3 channels, got ${image.channels}`);
  const n = image.height * image.width;
  const out = like(image, n * 3);
  for (let i = 0; i < n; i++) {
    const v = image.data[i];
    out[3 * i] = v;
    out[3 * i + 1] = v;
    out[3 * i + 2] = v;
  }
  return { data: out, height: image.height, width: image.width, channels: 3 };
}

/**
 * RGB to grey with Pillow's 'L' conversion (ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B
 * + 2^15) >> 16 for bytes; 0.299 R + 0.587 G + 0.114 B for floats). Grey images are returned unchanged.
 */
export function rgbToGrey(image: Image): Image {
  checkImage(image);
  if (image.channels === 1) return image;
  if (image.channels !== 3)
    throw new RangeError(`rgbToGrey: image must have 1 or 3 channels, got ${image.channels}`);
  const n = image.height * image.width;
  const d = image.data;
  const out = like(image, n);
  if (d instanceof Uint8Array) {
    for (let i = 0; i < n; i++)
      out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >>> 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = 0.299 * d[3 * i] + 0.587 * d[3 * i + 1] + 0.114 * d[3 * i + 2];
  }
  return { data: out, height: image.height, width: image.width, channels: 1 };
}
