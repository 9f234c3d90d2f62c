/**
 * Pillow's separable resampling (Resample.c), which torchvision uses on PIL images.
 *
 * Filters are evaluated at the output pixel centres; when downscaling, the filter support is
 * widened by the scale factor (antialiasing). Byte images follow Pillow's 8-bit path exactly:
 * coefficients in 22-bit fixed point, horizontal pass first, its result clipped to bytes, then the
 * vertical pass. Float images (values in [-1, 1]) follow Pillow's 32-bit float path.
 */
import { checkImage, type Image } from '../image.js';

/** Resampling filters (Pillow's names). */
export type Interpolation = 'bicubic' | 'bilinear' | 'box' | 'lanczos';

interface Filter {
  support: number;
  fn: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

const FILTERS: Record<Interpolation, Filter> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      // Keys' cubic convolution with a = -0.5, as Pillow.
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Filter weights of one axis: for output i, `ksize` weights starting at input `bounds[2i]`, `bounds[2i+1]` of them used. */
export interface AxisCoefficients {
  ksize: number;
  bounds: Int32Array;
  weights: Float64Array;
}

/**
 * Pillow's `precompute_coeffs`: normalised filter weights mapping input span [in0, in1) of an axis
 * of `inSize` pixels onto `outSize` pixels.
 */
export function axisCoefficients(
  inSize: number,
  in0: number,
  in1: number,
  outSize: number,
  interpolation: Interpolation,
): AxisCoefficients {
  const filter = FILTERS[interpolation];
  if (!filter)
    throw new RangeError(
      `resample: interpolation must be one of ${Object.keys(FILTERS).join(', ')}, got '${interpolation}'`,
    );
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(1, scale);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const o = xx * ksize;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      weights[o + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) weights[o + x] /= ww;
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Pillow's `normalize_coeffs_8bpc`: weights in 22-bit fixed point, rounded half away from zero. */
function fixedPoint(weights: Float64Array): Float64Array {
  const out = new Float64Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] * ONE;
    out[i] = Math.trunc(w < 0 ? w - 0.5 : w + 0.5);
  }
  return out;
}

function clip8(ss: number): number {
  if (ss >= ONE * 256) return 255;
  if (ss <= 0) return 0;
  return Math.floor(ss / ONE);
}

function horizontal(
  src: Uint8Array | Float32Array,
  width: number,
  channels: number,
  rowOffset: number,
  rows: number,
  outW: number,
  c: AxisCoefficients,
  bytes: boolean,
): Uint8Array | Float32Array {
  const dst = bytes ? new Uint8Array(rows * outW * channels) : new Float32Array(rows * outW * channels);
  const k = bytes ? fixedPoint(c.weights) : c.weights;
  const init = bytes ? HALF : 0;
  const { bounds, ksize } = c;
  const rgb = channels === 3;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + rowOffset) * width * channels;
    let o = y * outW * channels;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[2 * xx];
      const xmax = bounds[2 * xx + 1];
      const ko = xx * ksize;
      if (rgb) {
        // The common case unrolled: three running sums over one pass of the taps.
        let s0 = init;
        let s1 = init;
        let s2 = init;
        let p = rowIn + xmin * 3;
        for (let x = 0; x < xmax; x++, p += 3) {
          const w = k[ko + x];
          s0 += src[p] * w;
          s1 += src[p + 1] * w;
          s2 += src[p + 2] * w;
        }
        dst[o++] = bytes ? clip8(s0) : s0;
        dst[o++] = bytes ? clip8(s1) : s1;
        dst[o++] = bytes ? clip8(s2) : s2;
        continue;
      }
      for (let ch = 0; ch < channels; ch++) {
        let ss = init;
        let p = rowIn + xmin * channels + ch;
        for (let x = 0; x < xmax; x++, p += channels) ss += src[p] * k[ko + x];
        dst[o++] = bytes ? clip8(ss) : ss;
      }
    }
  }
  return dst;
}

function vertical(
  src: Uint8Array | Float32Array,
  width: number,
  channels: number,
  outH: number,
  c: AxisCoefficients,
  shift: number,
  bytes: boolean,
): Uint8Array | Float32Array {
  const rowLen = width * channels;
  const dst = bytes ? new Uint8Array(outH * rowLen) : new Float32Array(outH * rowLen);
  const k = bytes ? fixedPoint(c.weights) : c.weights;
  const init = bytes ? HALF : 0;
  const { bounds, ksize } = c;
  // Whole rows are accumulated tap by tap, so every inner loop walks memory sequentially.
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy] - shift;
    const ymax = bounds[2 * yy + 1];
    const ko = yy * ksize;
    acc.fill(init);
    for (let y = 0; y < ymax; y++) {
      const w = k[ko + y];
      const base = (ymin + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += src[base + i] * w;
    }
    const rowOut = yy * rowLen;
    if (bytes) for (let i = 0; i < rowLen; i++) dst[rowOut + i] = clip8(acc[i]);
    else for (let i = 0; i < rowLen; i++) dst[rowOut + i] = acc[i];
  }
  return dst;
}

/**
 * Resize an image to `height` x `width` with Pillow's resampling (`Image.resize` without a box).
 * Returns a new image of the same array type; a same-size request returns a copy.
 */
export function resizeImage(
  image: Image,
  height: number,
  width: number,
  interpolation: Interpolation = 'bicubic',
): Image {
  checkImage(image);
  if (!Number.isInteger(height) || height <= 0 || !Number.isInteger(width) || width <= 0) {
    throw new RangeError(`resizeImage: height and width must be positive integers, got ${height} x ${width}`);
  }
  if (!(interpolation in FILTERS)) {
    throw new RangeError(
      `resizeImage: interpolation must be one of ${Object.keys(FILTERS).join(', ')}, got '${interpolation}'`,
    );
  }
  const { height: inH, width: inW, channels } = image;
  const bytes = image.data instanceof Uint8Array;
  const needH = width !== inW;
  const needV = height !== inH;
  if (!needH && !needV) return { ...image, data: image.data.slice() };
  const horiz = axisCoefficients(inW, 0, inW, width, interpolation);
  const vert = axisCoefficients(inH, 0, inH, height, interpolation);
  let data = image.data;
  let shift = 0;
  let rows = inH;
  if (needH) {
    // Only the rows the vertical pass reads, as Pillow does.
    const first = vert.bounds[0];
    const last = vert.bounds[2 * height - 2] + vert.bounds[2 * height - 1];
    rows = needV ? last - first : inH;
    shift = needV ? first : 0;
    data = horizontal(data, inW, channels, shift, rows, width, horiz, bytes);
  }
  if (needV) data = vertical(data, width, channels, height, vert, shift, bytes);
  return { data, height, width, channels };
}
