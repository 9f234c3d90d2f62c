/** The contract between the evaluations and the networks whose features they compare. */
import * as tf from '@tensorflow/tfjs-core';

/** Feature sizes per image of a {@link FeatureExtractor}. */
export interface FeatureDims {
  /** Global feature (FID's pool3: 2048). */
  pool: number;
  /** Spatial feature for sFID (the FID Inception: 17 x 17 x 7 = 2023), when the network has one. */
  spatial?: number;
  /** Class logits for the Inception Score (the 2015 Inception: 1008), when the network has them. */
  logits?: number;
}

/** Features of a batch of n images, row-major, one row per image. */
export interface ExtractedFeatures {
  /** [n, dims.pool]. */
  pool: Float32Array;
  /** [n, dims.spatial], when the extractor declares `dims.spatial`. */
  spatial?: Float32Array;
  /** [n, dims.logits], when the extractor declares `dims.logits`. */
  logits?: Float32Array;
}

/**
 * A feature network for FID-style metrics. Every score computed from its features carries its `name`,
 * and features from two differently named extractors are never compared: the name must change whenever
 * the weights or the input pipeline change (the same Inception behind two resize pipelines gives
 * features that are not interchangeable).
 */
export interface FeatureExtractor {
  /** Names network, weights and pipeline, e.g. 'fid-inception-2015-12-05/adm'. */
  readonly name: string;
  /** What happens to the [-1, 1] images before the network (range, quantisation, resize), in words. */
  readonly preprocessing: string;
  readonly dims: FeatureDims;
  /**
   * Features of images [n, H, W, 3], NHWC, values in [-1, 1]; the input stays the caller's.
   * @returns typed arrays the caller owns (no tensors).
   */
  extract(images: tf.Tensor4D): Promise<ExtractedFeatures>;
  /** Release the network's weights. */
  dispose(): void;
}

/** Throws unless `x` looks like a {@link FeatureExtractor}. Internal. */
export function assertExtractor(name: string, x: unknown): asserts x is FeatureExtractor {
  const e = x as FeatureExtractor | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.name !== 'string' ||
    typeof e.extract !== 'function' ||
    e.dims === null ||
    typeof e.dims !== 'object' ||
    !Number.isInteger(e.dims.pool) ||
    e.dims.pool <= 0
  ) {
    throw new TypeError(
      `${name} must be a FeatureExtractor {name, preprocessing, dims: {pool, spatial?, logits?}, extract, dispose}`,
    );
  }
}

/** Throws unless `extractor` returned `dim` values of `what` per image for n images. Internal. */
export function checkExtracted(
  extractor: FeatureExtractor,
  what: string,
  a: Float32Array | undefined,
  n: number,
  dim: number,
): asserts a is Float32Array {
  if (!(a instanceof Float32Array) || a.length !== n * dim)
    throw new Error(
      `extractor '${extractor.name}' returned ${what} with ${a instanceof Float32Array ? a.length : 'no'} values for ${n} images x ${dim}`,
    );
}

/**
 * The extract loop of the extractors here: checks `images`, runs `forward` on slices of at most `maxBatch`
 * images and gathers its k-th output (`widths[k]` values per image) into the k-th array. Internal.
 */
export async function extractInSlices(
  owner: string,
  images: tf.Tensor4D,
  maxBatch: number,
  widths: number[],
  forward: (x: tf.Tensor4D) => tf.Tensor[],
): Promise<Float32Array[]> {
  if (!(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[3] !== 3) {
    throw new Error(
      `${owner}.extract: images must be a tf.Tensor4D [n, H, W, 3] in [-1, 1], got ${images instanceof tf.Tensor ? `[${images.shape}]` : typeof images}`,
    );
  }
  const n = images.shape[0];
  const out = widths.map((w) => new Float32Array(n * w));
  for (let b0 = 0; b0 < n; b0 += maxBatch) {
    const b1 = Math.min(n, b0 + maxBatch);
    const outs = tf.tidy(() =>
      forward(b0 === 0 && b1 === n ? images : tf.slice(images, [b0, 0, 0, 0], [b1 - b0, -1, -1, -1])),
    );
    try {
      const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
      for (const [k, d] of data.entries()) out[k].set(d, b0 * widths[k]);
    } finally {
      tf.dispose(outs);
    }
  }
  return out;
}
