/**
 * SSIM (Wang et al. 2004) with the common Gaussian setting: 11-tap window, sigma 1.5, K1 = 0.01,
 * K2 = 0.03, weighted (population) local variances, computed per channel in float64 and averaged.
 *
 * Two conventions differ only at the image border:
 * - 'valid': only windows that fit inside the image (the map loses 5 px per side) - scikit-image
 *   (gaussian_weights=True, use_sample_covariance=False) and torchmetrics before its PR #2721.
 * - 'reflect': the image is padded by 5 px with PyTorch's 'reflect' (mirror without repeating the edge
 *   pixel) and the whole h x w map is averaged - torchmetrics since PR #2721 (September 2024, the 1.5
 *   releases), which the LDMAE reference (LightningDiT's evaluate_tokenizer.py,
 *   `StructuralSimilarityIndexMeasure(data_range=(-1.0, 1.0))`) runs with a current install. Before
 *   that PR torchmetrics padded and then cropped the 5 px again, i.e. 'valid'. torchmetrics also clamps
 *   the local variances at 0 (since 1.3.2); so does this code (a rounding guard only).
 */
import { atDoor } from '@ldmae/core';
import { checkPair, type ImageBatch } from './batch.js';

/** Half-width of the window: int(3.5 sigma + 0.5) for sigma 1.5, as torchmetrics and scikit-image. */
const RADIUS = 5;
const SIGMA = 1.5;
const K1 = 0.01;
const K2 = 0.03;

/** Options of {@link ssim} and {@link ssimPerImage}. */
export interface SsimOptions {
  /**
   * L in C1 = (K1 L)^2, C2 = (K2 L)^2. A number is the value range (1 for [0, 1] images, 255 for
   * uint8). A [min, max] pair also clamps both inputs to it first and uses L = max - min, as
   * torchmetrics does with a tuple: the LDMAE reference passes (-1, 1), i.e. [-1, 1] images, L = 2.
   */
  dataRange: number | readonly [number, number];
  /** Border convention, see the module notes. Default 'reflect' (current torchmetrics). */
  border?: 'reflect' | 'valid';
}

/**
 * SSIM of each image pair, averaged over its channels and over the SSIM map.
 *
 * @param a - [n, h, w, c] images; h, w >= 11 for 'valid', >= 6 for 'reflect'.
 * @param b - [n, h, w, c] images.
 * @returns [n] SSIM values in [-1, 1].
 */
export function ssimPerImage(a: ImageBatch, b: ImageBatch, opts: SsimOptions): Float64Array {
  return compute(a, b, opts);
}

/**
 * Mean SSIM over a batch of image pairs (the mean of {@link ssimPerImage}); to pool several batches
 * exactly, average the per-image values, as torchmetrics' metric object does.
 *
 * @param a - [n, h, w, c] images.
 * @param b - [n, h, w, c] images.
 */
export function ssim(a: ImageBatch, b: ImageBatch, opts: SsimOptions): number {
  const values = compute(a, b, opts);
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** The normalised 11-tap Gaussian window of SSIM. */
export function ssimWindow(): Float64Array {
  const g = new Float64Array(2 * RADIUS + 1);
  let sum = 0;
  for (let i = -RADIUS; i <= RADIUS; i++) {
    const v = Math.exp(-(i * i) / (2 * SIGMA * SIGMA));
    g[i + RADIUS] = v;
    sum += v;
  }
  for (let i = 0; i < g.length; i++) g[i] /= sum;
  return g;
}

/** Per-image SSIM of ssim and ssimPerImage, whose errors are named 'ssim'. */
function compute(a: ImageBatch, b: ImageBatch, opts: SsimOptions): Float64Array {
  const fn = 'ssim';
  const [n, h, w, c] = atDoor(fn, () => checkPair(a, b));
  if (opts === null || typeof opts !== 'object')
    throw new TypeError(`${fn}: opts with a dataRange is required`);
  const { range, lo, hi } = checkRange(opts.dataRange);
  const border = opts.border ?? 'reflect';
  if (border !== 'reflect' && border !== 'valid') {
    throw new RangeError(`${fn}: opts.border must be 'reflect' or 'valid', got ${String(border)}`);
  }
  const minSide = border === 'valid' ? 2 * RADIUS + 1 : RADIUS + 1;
  if (h < minSide || w < minSide) {
    throw new RangeError(
      `${fn}: images must be at least ${minSide} x ${minSide} for border '${border}', got ${h} x ${w}`,
    );
  }
  const c1 = (K1 * range) ** 2;
  const c2 = (K2 * range) ** 2;
  const g = ssimWindow();
  const pad = border === 'reflect' ? RADIUS : 0;
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  const x = new Float64Array(ph * pw);
  const y = new Float64Array(ph * pw);
  const moments = Array.from({ length: 5 }, () => new Float64Array(ph * (pw - 2 * RADIUS)));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let ch = 0; ch < c; ch++) {
      loadPlane(a.data, x, i, ch, h, w, c, pad, lo, hi);
      loadPlane(b.data, y, i, ch, h, w, c, pad, lo, hi);
      sum += meanSsimMap(x, y, ph, pw, g, c1, c2, moments);
    }
    out[i] = sum / c;
  }
  return out;
}

function checkRange(r: SsimOptions['dataRange']): { range: number; lo: number; hi: number } {
  if (typeof r === 'number') {
    if (!(r > 0) || !Number.isFinite(r))
      throw new RangeError(`ssim: opts.dataRange must be a positive number, got ${r}`);
    return { range: r, lo: Number.NEGATIVE_INFINITY, hi: Number.POSITIVE_INFINITY };
  }
  if (Array.isArray(r) && r.length === 2 && Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[1] > r[0]) {
    return { range: r[1] - r[0], lo: r[0], hi: r[1] };
  }
  throw new RangeError(
    `ssim: opts.dataRange must be a positive number or a [min, max] pair with min < max, got ${JSON.stringify(r)}`,
  );
}

/** Copies channel ch of image i into a (h + 2 pad) x (w + 2 pad) plane, reflect-padded, clamped. */
function loadPlane(
  src: ImageBatch['data'],
  dst: Float64Array,
  i: number,
  ch: number,
  h: number,
  w: number,
  c: number,
  pad: number,
  lo: number,
  hi: number,
): void {
  const pw = w + 2 * pad;
  const base = i * h * w * c + ch;
  for (let py = 0; py < h + 2 * pad; py++) {
    const sy = reflect(py - pad, h);
    for (let px = 0; px < pw; px++) {
      const sx = reflect(px - pad, w);
      const v = src[base + (sy * w + sx) * c];
      dst[py * pw + px] = Math.min(Math.max(v, lo), hi);
    }
  }
}

/** PyTorch 'reflect' index: -1 -> 1, n -> n - 2 (the edge pixel is not repeated). */
function reflect(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

/** Mean of the SSIM map over all windows that fit in the (ph x pw) planes. */
function meanSsimMap(
  x: Float64Array,
  y: Float64Array,
  ph: number,
  pw: number,
  g: Float64Array,
  c1: number,
  c2: number,
  moments: Float64Array[],
): number {
  const taps = g.length;
  const ow = pw - taps + 1;
  const oh = ph - taps + 1;
  // Horizontal pass of the five moments x, y, x^2, y^2, xy; the vertical pass then forms SSIM.
  const [hx, hy, hxx, hyy, hxy] = moments;
  for (let r = 0; r < ph; r++) {
    for (let col = 0; col < ow; col++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      const o = r * pw + col;
      for (let t = 0; t < taps; t++) {
        const wt = g[t];
        const xv = x[o + t];
        const yv = y[o + t];
        sx += wt * xv;
        sy += wt * yv;
        sxx += wt * xv * xv;
        syy += wt * yv * yv;
        sxy += wt * xv * yv;
      }
      const q = r * ow + col;
      hx[q] = sx;
      hy[q] = sy;
      hxx[q] = sxx;
      hyy[q] = syy;
      hxy[q] = sxy;
    }
  }
  let total = 0;
  for (let r = 0; r < oh; r++) {
    for (let col = 0; col < ow; col++) {
      let mx = 0;
      let my = 0;
      let exx = 0;
      let eyy = 0;
      let exy = 0;
      for (let t = 0; t < taps; t++) {
        const wt = g[t];
        const q = (r + t) * ow + col;
        mx += wt * hx[q];
        my += wt * hy[q];
        exx += wt * hxx[q];
        eyy += wt * hyy[q];
        exy += wt * hxy[q];
      }
      const mxx = mx * mx;
      const myy = my * my;
      const mxy = mx * my;
      const vx = Math.max(exx - mxx, 0);
      const vy = Math.max(eyy - myy, 0);
      const cov = exy - mxy;
      total += ((2 * mxy + c1) * (2 * cov + c2)) / ((mxx + myy + c1) * (vx + vy + c2));
    }
  }
  return total / (oh * ow);
}
