/**
 * Streaming accumulation of the reconstruction metrics over (original, reconstruction) batches, as
 * LightningDiT's evaluate_tokenizer.py computes them (the paper's Tab. 1 / Fig. 6 numbers):
 * - PSNR on uint8 images (both quantised with {@link quantizeToUint8}, peak 255), mean of per-image PSNRs;
 * - SSIM on the [-1, 1] floats with data range [-1, 1] (L = 2), mean of per-image SSIMs;
 * - LPIPS (when an LPIPS network is given): mean of per-image distances on the [-1, 1] floats;
 * - L1 and MSE: means over all elements of the [-1, 1] floats;
 * - rFID: Fréchet distance between the extractor's pool features of originals and reconstructions.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { checkExtracted, type FeatureExtractor } from '../features/types.js';
import { imageBatch } from '../image/batch.js';
import { psnrPerImage } from '../image/pixel-errors.js';
import { quantizeToUint8 } from '../image/quantize.js';
import { ssimPerImage } from '../image/ssim.js';
import { FrechetAccumulator } from './frechet-samples.js';

/** What evaluations need of an LPIPS network; `Lpips` from @ldmae/losses fits. */
export interface LpipsLike {
  /** Per-image distances [B] of two [B, H, W, 3] batches in [-1, 1]; the caller owns the result. */
  forward(x: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor1D;
  /** Name of the network under the head. */
  readonly trunkName: string;
  /** Where the lin weights come from ('learned-v0.1', 'uniform', 'custom'). */
  readonly linWeights: string;
}

/** Reconstruction metrics over a set of images. */
export interface ReconstructionMetrics {
  /** Images evaluated. */
  count: number;
  /** rFID on `extractor`'s pool features, or null without an extractor. */
  rfid: number | null;
  /** dB, mean of per-image PSNRs on uint8 images (+Infinity when some image is reproduced exactly). */
  psnr: number;
  ssim: number;
  /** Mean per-image LPIPS, or null without an LPIPS network. */
  lpips: number | null;
  l1: number;
  mse: number;
}

/** Throws unless `x` is null/undefined or looks like an LPIPS network. Internal. */
export function checkLpips(x: unknown): LpipsLike | null {
  if (x === undefined || x === null) return null;
  const l = x as LpipsLike;
  if (typeof l !== 'object' || typeof l.forward !== 'function')
    throw new TypeError('opts.lpips must be an Lpips (from @ldmae/losses) or null');
  return l;
}

/** A label for an LPIPS network: its trunk and the kind of lin weights. */
export function lpipsLabel(l: LpipsLike | null): string | null {
  return l ? `lpips[${l.trunkName}, lin ${l.linWeights}]` : null;
}

/** Accumulates the metrics of reconstructions against their originals. Internal. */
export class ReconAccumulator {
  private n = 0;
  private psnrSum = 0;
  private ssimSum = 0;
  private lpipsSum = 0;
  private absSum = 0;
  private sqSum = 0;
  private elements = 0;
  readonly fake: FrechetAccumulator | null;

  constructor(
    private readonly lpips: LpipsLike | null,
    private readonly extractor: FeatureExtractor | null,
    private readonly ssimBorder: 'reflect' | 'valid',
  ) {
    this.fake = extractor ? new FrechetAccumulator(extractor.dims.pool) : null;
  }

  /**
   * Adds a batch. `x` and `y` are [B, H, W, 3], `y` already clamped to [-1, 1]; `xData` is x's data
   * (read once and shared across reconstructions of the same batch).
   */
  async add(x: tf.Tensor4D, xData: Float32Array, y: tf.Tensor4D): Promise<void> {
    const shape = x.shape as [number, number, number, number];
    const b = shape[0];
    const yData = (await y.data()) as Float32Array;
    const a = imageBatch(xData, shape);
    const r = imageBatch(yData, shape);
    for (const v of psnrPerImage(quantizeToUint8(a), quantizeToUint8(r))) this.psnrSum += v;
    for (const v of ssimPerImage(a, r, { dataRange: [-1, 1], border: this.ssimBorder })) this.ssimSum += v;
    for (let i = 0; i < xData.length; i++) {
      const d = xData[i] - yData[i];
      this.absSum += Math.abs(d);
      this.sqSum += d * d;
    }
    this.elements += xData.length;
    if (this.lpips) {
      const d = this.lpips.forward(x, y);
      try {
        for (const v of (await d.data()) as Float32Array) this.lpipsSum += v;
      } finally {
        d.dispose();
      }
    }
    if (this.extractor && this.fake) {
      const f = await this.extractor.extract(y);
      addPool(this.extractor, this.fake, f.pool, b);
    }
    this.n += b;
  }

  /** Images added so far. */
  get count(): number {
    return this.n;
  }

  /** The metrics so far; `real` holds the originals' pool statistics when there is an extractor. */
  result(real: FrechetAccumulator | null): ReconstructionMetrics {
    const n = this.n;
    let rfid: number | null = null;
    if (this.fake && real) {
      if (n < 2) throw new RangeError(`rFID needs at least 2 images, got ${n}`);
      rfid = real.frechetTo(this.fake);
    }
    return {
      count: n,
      rfid,
      psnr: this.psnrSum / n,
      ssim: this.ssimSum / n,
      lpips: this.lpips ? this.lpipsSum / n : null,
      l1: this.absSum / this.elements,
      mse: this.sqSum / this.elements,
    };
  }
}

/** Adds pool features to statistics after checking their size. Internal. */
export function addPool(
  extractor: FeatureExtractor,
  stats: FrechetAccumulator,
  pool: Float32Array,
  n: number,
): void {
  checkExtracted(extractor, 'pool', pool, n, extractor.dims.pool);
  stats.add(pool, n);
}
