/**
 * Pixel-level reconstruction errors: L1, MSE and PSNR, accumulated in float64.
 *
 * The LDMAE reference (LightningDiT's evaluate_tokenizer.py) computes PSNR on uint8 PNGs: both images
 * quantised with {@link quantizeToUint8}, per-image MSE over all h * w * c values, PSNR =
 * 20 log10(255 / sqrt(MSE)), then the plain mean of the per-image PSNRs. L1 and MSE are not in the
 * reference code; the paper's table reports them on [-1, 1] images, as the mean over all elements.
 */
import { atDoor } from '@ldmae/core';
import { checkPair, type ImageBatch } from './batch.js';

/** Options of {@link psnr} and {@link psnrPerImage}. */
export interface PsnrOptions {
  /** Largest possible pixel value minus the smallest. Default 255 (uint8 images, as the reference). */
  peak?: number;
  /**
   * 'per-image-mean' (default, the reference): mean over images of each image's PSNR.
   * 'pooled': one PSNR from the MSE over the whole batch.
   */
  reduction?: 'per-image-mean' | 'pooled';
}

/** Mean absolute difference over all elements of two batches of one shape. */
export function l1(a: ImageBatch, b: ImageBatch): number {
  atDoor('l1', () => checkPair(a, b));
  const x = a.data;
  const y = b.data;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
  return s / x.length;
}

/** Mean squared difference over all elements of two batches of one shape. */
export function mse(a: ImageBatch, b: ImageBatch): number {
  atDoor('mse', () => checkPair(a, b));
  const x = a.data;
  const y = b.data;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - y[i];
    s += d * d;
  }
  return s / x.length;
}

/**
 * PSNR of each image pair: 10 log10(peak^2 / MSE_i), +Infinity for identical images.
 *
 * @param a - [n, h, w, c] images.
 * @param b - [n, h, w, c] images.
 * @returns [n] PSNRs in dB.
 */
export function psnrPerImage(
  a: ImageBatch,
  b: ImageBatch,
  opts: Omit<PsnrOptions, 'reduction'> = {},
): Float64Array {
  const [n] = atDoor('psnrPerImage', () => checkPair(a, b));
  const peak = checkPeak(opts.peak);
  const errors = perImageMse(a, b, n);
  return errors.map((e) => 10 * Math.log10((peak * peak) / e));
}

/**
 * PSNR of a batch in dB. With the default 'per-image-mean', one identical pair makes the result
 * +Infinity, as averaging the reference's per-image values would.
 *
 * @param a - [n, h, w, c] images.
 * @param b - [n, h, w, c] images.
 */
export function psnr(a: ImageBatch, b: ImageBatch, opts: PsnrOptions = {}): number {
  const fn = 'psnr';
  const [n] = atDoor(fn, () => checkPair(a, b));
  const peak = checkPeak(opts.peak);
  const reduction = opts.reduction ?? 'per-image-mean';
  if (reduction !== 'per-image-mean' && reduction !== 'pooled') {
    throw new RangeError(
      `${fn}: opts.reduction must be 'per-image-mean' or 'pooled', got ${String(reduction)}`,
    );
  }
  const errors = perImageMse(a, b, n);
  if (reduction === 'pooled') {
    let total = 0;
    for (const e of errors) total += e;
    return 10 * Math.log10((peak * peak) / (total / n));
  }
  let s = 0;
  for (const e of errors) s += 10 * Math.log10((peak * peak) / e);
  return s / n;
}

function perImageMse(a: ImageBatch, b: ImageBatch, n: number): Float64Array {
  const x = a.data;
  const y = b.data;
  const size = x.length / n;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * size; j < (i + 1) * size; j++) {
      const d = x[j] - y[j];
      s += d * d;
    }
    out[i] = s / size;
  }
  return out;
}

/** The peak of psnr and psnrPerImage (default 255). */
function checkPeak(peak: number | undefined): number {
  const p = peak ?? 255;
  if (!(p > 0) || !Number.isFinite(p))
    throw new RangeError(`psnr: opts.peak must be a positive number, got ${p}`);
  return p;
}
