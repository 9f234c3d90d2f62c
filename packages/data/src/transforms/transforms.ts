/**
 * Seeded image transforms with torchvision's semantics on PIL images.
 *
 * Each transform is built from a plain-data spec, so a pipeline can be rebuilt identically inside
 * a worker thread; randomness comes from the `Rng` passed to `apply` (the loader gives every sample
 * its own generator derived from (seed, epoch, position)).
 */
import type { Rng } from '@ldmae/core';
import { checkImage, type Image, normalizeImage } from '../image.js';
import { cropImage, flipHorizontal, greyToRgb, type PadMode, padImage, rgbToGrey } from './geometry.js';
import { type Interpolation, resizeImage } from './resample.js';

/** Plain-data description of a transform (what workers receive). */
export type TransformSpec =
  | { kind: 'resize'; size: number | [number, number]; interpolation: Interpolation; maxSize?: number }
  | { kind: 'centerCrop'; size: [number, number] }
  | {
      kind: 'randomResizedCrop';
      size: [number, number];
      scale: [number, number];
      ratio: [number, number];
      interpolation: Interpolation;
    }
  | { kind: 'randomHorizontalFlip'; p: number }
  | { kind: 'pad'; padding: [number, number, number, number]; fill: number; mode: PadMode }
  | { kind: 'greyToRgb' }
  | { kind: 'rgbToGrey' }
  | { kind: 'normalize' }
  | { kind: 'admCenterCrop'; size: number }
  | { kind: 'compose'; transforms: TransformSpec[] };

/** An image-to-image step. `spec` is null for custom functions (which cannot move to workers). */
export interface Transform {
  readonly spec: TransformSpec | null;
  /** A new image (inputs are never modified); `rng` drives the random choices. */
  apply(image: Image, rng: Rng): Image;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function pair(size: number | readonly number[], where: string): [number, number] {
  const s = typeof size === 'number' ? [size, size] : [...size];
  if (s.length !== 2 || s.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new RangeError(
      `${where}: size must be a positive integer or [height, width], got ${JSON.stringify(size)}`,
    );
  }
  return [s[0], s[1]];
}

function range(r: readonly number[], where: string, name: string): [number, number] {
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] > 0) || !(r[1] >= r[0]) || !Number.isFinite(r[1])) {
    throw new RangeError(`${where}: ${name} must be [lo, hi] with 0 < lo <= hi, got ${JSON.stringify(r)}`);
  }
  return [r[0], r[1]];
}

/**
 * torchvision's output size of Resize: an int resizes the shorter side (the longer one becomes
 * int(size * long / short)), optionally capped by `maxSize`; [h, w] is used as is.
 */
export function resizeOutputSize(
  height: number,
  width: number,
  size: number | [number, number],
  maxSize?: number,
): [number, number] {
  if (Array.isArray(size)) return [size[0], size[1]];
  const wShort = width <= height;
  const short = wShort ? width : height;
  const long = wShort ? height : width;
  let newShort = size as number;
  let newLong = Math.trunc((newShort * long) / short);
  if (maxSize !== undefined && newLong > maxSize) {
    newShort = Math.trunc((maxSize * newShort) / newLong);
    newLong = maxSize;
  }
  return wShort ? [newLong, newShort] : [newShort, newLong];
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of area ~ U(scale) * H * W and
 * log-aspect ~ U(log ratio), else a centre crop clamped to the ratio range.
 * @returns [top, left, height, width] of the crop box
 */
export function randomResizedCropBox(
  height: number,
  width: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): [number, number, number, number] {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rng.nextFloat());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.nextFloat());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const i = rng.nextInt(height - h + 1);
      const j = rng.nextInt(width - w + 1);
      return [i, j, h, w];
    }
  }
  // The whole image, cut to the nearest end of the ratio range when its own ratio is outside.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/** torchvision's CenterCrop: pads with black when the crop is larger, offsets rounded half-even. */
export function centerCropImage(image: Image, height: number, width: number): Image {
  checkImage(image);
  const black = image.data instanceof Float32Array ? -1 : 0;
  const offset = (want: number, have: number) =>
    want > have ? -Math.floor((want - have) / 2) : roundHalfEven((have - want) / 2);
  return cropImage(image, offset(height, image.height), offset(width, image.width), height, width, black);
}

/**
 * ADM's `center_crop_arr` (guided-diffusion, DiT, LightningDiT feature extraction): halve with a
 * box filter while the shorter side is at least 2 * size, bicubic-resize the shorter side to
 * `size` (the other side round(side * scale)), then crop the centre (offsets floored).
 */
export function admCenterCropImage(image: Image, size: number): Image {
  checkImage(image);
  let im = image;
  while (Math.min(im.height, im.width) >= 2 * size) {
    im = resizeImage(im, Math.floor(im.height / 2), Math.floor(im.width / 2), 'box');
  }
  const scale = size / Math.min(im.height, im.width);
  im = resizeImage(im, roundHalfEven(im.height * scale), roundHalfEven(im.width * scale), 'bicubic');
  return cropImage(im, Math.floor((im.height - size) / 2), Math.floor((im.width - size) / 2), size, size);
}

/** Rebuild a transform from its spec (used by worker threads; also validates the spec). */
export function transformFromSpec(spec: TransformSpec): Transform {
  const where = spec?.kind ?? 'transformFromSpec';
  switch (spec?.kind) {
    case 'resize': {
      const size = typeof spec.size === 'number' ? pair(spec.size, where)[0] : pair(spec.size, where);
      if (spec.maxSize !== undefined && (!Number.isInteger(spec.maxSize) || spec.maxSize <= 0)) {
        throw new RangeError(`resize: maxSize must be a positive integer, got ${spec.maxSize}`);
      }
      return {
        spec,
        apply: (im) => {
          const [h, w] = resizeOutputSize(im.height, im.width, size, spec.maxSize);
          if (h === im.height && w === im.width) return im;
          return resizeImage(im, h, w, spec.interpolation);
        },
      };
    }
    case 'centerCrop': {
      const [h, w] = pair(spec.size, where);
      return { spec, apply: (im) => centerCropImage(im, h, w) };
    }
    case 'randomResizedCrop': {
      const [h, w] = pair(spec.size, where);
      const scale = range(spec.scale, where, 'scale');
      const ratio = range(spec.ratio, where, 'ratio');
      return {
        spec,
        apply: (im, rng) => {
          const [top, left, ch, cw] = randomResizedCropBox(im.height, im.width, scale, ratio, rng);
          return resizeImage(cropImage(im, top, left, ch, cw), h, w, spec.interpolation);
        },
      };
    }
    case 'randomHorizontalFlip': {
      if (!(spec.p >= 0 && spec.p <= 1))
        throw new RangeError(`randomHorizontalFlip: p must be in [0, 1], got ${spec.p}`);
      return { spec, apply: (im, rng) => (rng.nextFloat() < spec.p ? flipHorizontal(im) : im) };
    }
    case 'pad':
      return { spec, apply: (im) => padImage(im, spec.padding, spec.fill, spec.mode) };
    case 'greyToRgb':
      return { spec, apply: (im) => greyToRgb(im) };
    case 'rgbToGrey':
      return { spec, apply: (im) => rgbToGrey(im) };
    case 'normalize':
      return { spec, apply: (im) => normalizeImage(im) };
    case 'admCenterCrop': {
      if (!Number.isInteger(spec.size) || spec.size <= 0)
        throw new RangeError(`admCenterCrop: size must be a positive integer, got ${spec.size}`);
      return { spec, apply: (im) => admCenterCropImage(im, spec.size) };
    }
    case 'compose': {
      const parts = spec.transforms.map(transformFromSpec);
      return { spec, apply: (im, rng) => parts.reduce((acc, t) => t.apply(acc, rng), im) };
    }
    default:
      throw new TypeError(`transformFromSpec: unknown transform kind '${(spec as { kind?: string })?.kind}'`);
  }
}

/** Options of resampling transforms. */
export interface ResampleOptions {
  /** Filter (default 'bicubic', the reference's choice; torchvision's own default is 'bilinear'). */
  interpolation?: Interpolation;
}

/**
 * Resize: an int sets the shorter side (aspect kept, as torchvision's Resize(int)); [h, w] sets both.
 * Antialiased when downscaling (Pillow).
 */
export function resize(
  size: number | [number, number],
  opts: ResampleOptions & { maxSize?: number } = {},
): Transform {
  return transformFromSpec({
    kind: 'resize',
    size,
    interpolation: opts.interpolation ?? 'bicubic',
    maxSize: opts.maxSize,
  });
}

/** Crop the centre to `size` (int or [h, w]); pads with black when the image is smaller. */
export function centerCrop(size: number | [number, number]): Transform {
  return transformFromSpec({ kind: 'centerCrop', size: pair(size, 'centerCrop') });
}

/**
 * torchvision's RandomResizedCrop: a random box with area fraction in `scale` (default
 * [0.08, 1]) and aspect ratio in `ratio` (default [3/4, 4/3]), resized to `size`.
 */
export function randomResizedCrop(
  size: number | [number, number],
  opts: ResampleOptions & { scale?: [number, number]; ratio?: [number, number] } = {},
): Transform {
  return transformFromSpec({
    kind: 'randomResizedCrop',
    size: pair(size, 'randomResizedCrop'),
    scale: opts.scale ?? [0.08, 1],
    ratio: opts.ratio ?? [3 / 4, 4 / 3],
    interpolation: opts.interpolation ?? 'bicubic',
  });
}

/** Mirror left-right with probability `p` (default 0.5). */
export function randomHorizontalFlip(p = 0.5): Transform {
  return transformFromSpec({ kind: 'randomHorizontalFlip', p });
}

/**
 * Pad like torchvision's Pad: `padding` is one int (all sides), [left/right, top/bottom] or
 * [left, top, right, bottom]; `fill` is a byte (uint8 images) or a value in [-1, 1] (float images).
 */
export function pad(padding: number | number[], opts: { fill?: number; mode?: PadMode } = {}): Transform {
  const p = typeof padding === 'number' ? [padding] : padding;
  if (![1, 2, 4].includes(p.length))
    throw new RangeError(
      `pad: padding must be an int, [lr, tb] or [l, t, r, b], got ${JSON.stringify(padding)}`,
    );
  // Side i (left, top, right, bottom) of p[i mod length]: one value, [lr, tb] or [l, t, r, b].
  const ltrb = [0, 1, 2, 3].map((i) => p[i % p.length]) as [number, number, number, number];
  if (ltrb.some((v) => !Number.isInteger(v) || v < 0))
    throw new RangeError(`pad: padding must be non-negative integers, got ${JSON.stringify(padding)}`);
  return transformFromSpec({
    kind: 'pad',
    padding: ltrb,
    fill: opts.fill ?? 0,
    mode: opts.mode ?? 'constant',
  });
}

/** Grey to RGB (channel repeated); RGB passes through. */
export function toRgb(): Transform {
  return transformFromSpec({ kind: 'greyToRgb' });
}

/** RGB to grey (Pillow's luma); grey passes through. */
export function toGrey(): Transform {
  return transformFromSpec({ kind: 'rgbToGrey' });
}

/** Bytes to float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5)). The loader does this itself when left out. */
export function normalize(): Transform {
  return transformFromSpec({ kind: 'normalize' });
}

/** ADM / DiT centre crop to `size` x `size` (see {@link admCenterCropImage}). */
export function admCenterCrop(size: number): Transform {
  return transformFromSpec({ kind: 'admCenterCrop', size });
}

/** Apply transforms in order. Serialisable when every part is. */
export function compose(...transforms: Transform[]): Transform {
  transforms.forEach((t, i) => {
    if (!t || typeof t.apply !== 'function') throw new TypeError(`compose: argument ${i} is not a Transform`);
  });
  if (transforms.every((t) => t.spec !== null)) {
    return transformFromSpec({ kind: 'compose', transforms: transforms.map((t) => t.spec!) });
  }
  return { spec: null, apply: (im, rng) => transforms.reduce((acc, t) => t.apply(acc, rng), im) };
}

/** A custom transform from a function. It runs on the main thread only (it has no spec). */
export function lambda(fn: (image: Image, rng: Rng) => Image): Transform {
  if (typeof fn !== 'function') throw new TypeError('lambda: fn must be a function (image, rng) => image');
  return { spec: null, apply: fn };
}
