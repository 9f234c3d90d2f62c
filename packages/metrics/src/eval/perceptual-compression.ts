/**
 * Perceptual compression of an autoencoder (paper Sec. 5.1, Fig. 7): sigma^2 and rho of its latents
 * against ground-truth segmentation maps, next to the same quantities on the raw pixels. The exact
 * definitions are in compression-stats.ts ({@link imageCompressionStats}).
 */
import {
  type Autoencoder,
  atDoor,
  checkImageBatchSource,
  type ImageBatchSource,
  imageSourceCount,
  type Progress,
  type ProgressCallback,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInt } from '../stats/checks.js';
import { imageCompressionStats, patchLabels, pixelPatches } from './compression-stats.js';

import { checkAutoencoder } from './evaluate-reconstruction.js';

import { ProgressReporter } from './progress.js';

import { checkSource, imageBatches, sourceItems } from './source.js';

/** Integer label storage accepted for segmentation maps. */
export type LabelArray = Int32Array | Uint8Array | Uint16Array | Uint32Array | Int16Array | Int8Array;

/**
 * Segmentation maps [n, H, W] (or [n, H, W, 1]) of integer labels, aligned with the images:
 * - one tf.Tensor for the whole set (rows are taken as the images arrive, whatever their batching);
 * - an array or (async) iterable with one entry per image batch: a tf.Tensor (consumed when the source
 *   is an iterable, as for images) or a {@link LabelArray} of b * H * W labels.
 */
export type SegmentationSource =
  | tf.Tensor
  | readonly (tf.Tensor | LabelArray)[]
  | Iterable<tf.Tensor | LabelArray>
  | AsyncIterable<tf.Tensor | LabelArray>;

/** Options of {@link perceptualCompression}. */
export interface PerceptualCompressionOptions {
  /** Images per autoencoder call (when `images` is one tensor). Default 16. */
  batchSize?: number;
  /** Labels that mark unlabelled pixels (e.g. ADE20K's 0, or 255), left out of everything. Default none. */
  ignoreLabels?: readonly number[];
  /** Smallest cluster (in grid positions) entering sigma^2. Default 2. */
  minClusterSize?: number;
  onProgress?: ProgressCallback<Progress>;
}

/** sigma^2 and rho of one feature kind over a set of images. */
export interface CompressionStats {
  /** Mean within-cluster variance of standardised features (lower = stronger compression). */
  sigma2: number;
  /** Mean per-image u_intra / u_inter (> 1 wanted). */
  rho: number;
  /** Clusters entering sigma^2. */
  clusters: number;
  /** Images entering rho (those with pairs inside and across clusters). */
  images: number;
}

/** Result of {@link perceptualCompression}. */
export interface PerceptualCompressionResult {
  /** On the posterior means at the latent grid. */
  latent: CompressionStats;
  /** On the raw [-1, 1] pixels cut into the latent grid's patches (ph x pw x 3 values each). */
  pixels: CompressionStats;
  /** Latent grid [h, w] and patch size [ph, pw] in pixels. */
  grid: [number, number];
  patch: [number, number];
  /** Images read. */
  count: number;
}

const INT_ARRAYS = [Int32Array, Uint8Array, Uint16Array, Uint32Array, Int16Array, Int8Array];

function isLabelArray(x: unknown): x is LabelArray {
  return INT_ARRAYS.some((C) => x instanceof C);
}

class Totals {
  variances = 0;
  clusters = 0;
  rhoSum = 0;
  images = 0;
  add(s: ReturnType<typeof imageCompressionStats>): void {
    for (const v of s.clusterVariances) this.variances += v;
    this.clusters += s.clusterVariances.length;
    if (s.rho !== null) {
      this.rhoSum += s.rho;
      this.images++;
    }
  }
  result(): CompressionStats {
    return {
      sigma2: this.clusters ? this.variances / this.clusters : Number.NaN,
      rho: this.images ? this.rhoSum / this.images : Number.NaN,
      clusters: this.clusters,
      images: this.images,
    };
  }
}

async function labelData(
  v: unknown,
  b: number,
  H: number,
  W: number,
  index: number,
): Promise<LabelArray | Float32Array> {
  const fn = 'perceptualCompression';
  const want = b * H * W;
  let data: LabelArray | Float32Array;
  if (v instanceof tf.Tensor) {
    const okShape =
      v.shape[0] === b &&
      v.shape[1] === H &&
      v.shape[2] === W &&
      (v.rank === 3 || (v.rank === 4 && v.shape[3] === 1));
    if (!okShape)
      throw new Error(
        `${fn}: segmentation batch ${index} is [${v.shape}], expected [${b}, ${H}, ${W}] like its images`,
      );
    data = (await v.data()) as LabelArray | Float32Array;
  } else if (isLabelArray(v)) {
    if (v.length !== want)
      throw new Error(
        `${fn}: segmentation batch ${index} holds ${v.length} labels, expected ${b} x ${H} x ${W}`,
      );
    data = v;
  } else
    throw new TypeError(`${fn}: segmentation batch ${index} must be a tf.Tensor or an integer typed array`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isInteger(data[i]))
      throw new Error(`${fn}: segmentation batch ${index} has a non-integer label ${data[i]}`);
  }
  return data;
}

/**
 * sigma^2 and rho (see compression-stats.ts for every choice) of the autoencoder's posterior means and,
 * for comparison, of the raw pixels, against ground-truth segmentation maps. Labels are brought to the
 * latent grid by majority vote over each patch (H / h x W / w pixels, which must be integers).
 *
 * @param autoencoder - any {@link Autoencoder}.
 * @param images - images [n, H, W, 3] in [-1, 1] (see `ImageBatchSource` of @ldmae/core).
 * @param segmentationMaps - labels [n, H, W] aligned with `images` (see {@link SegmentationSource}).
 */
export async function perceptualCompression(
  autoencoder: Autoencoder,
  images: ImageBatchSource,
  segmentationMaps: SegmentationSource,
  opts: PerceptualCompressionOptions = {},
): Promise<PerceptualCompressionResult> {
  const fn = 'perceptualCompression';
  const batchSize = atDoor(fn, () => {
    checkAutoencoder(autoencoder);
    return checkPositiveInt('opts.batchSize', opts.batchSize ?? 16);
  });
  checkImageBatchSource(images, { caller: fn, argument: 'images', batchSize });
  const minCluster = atDoor(fn, () => {
    if (!(segmentationMaps instanceof tf.Tensor))
      checkSource('segmentationMaps', segmentationMaps, 'SegmentationSource');
    return checkPositiveInt('opts.minClusterSize', opts.minClusterSize ?? 2);
  });
  const ignore = new Set(opts.ignoreLabels ?? []);
  const total = imageSourceCount(images);
  if (segmentationMaps instanceof tf.Tensor) {
    const s = segmentationMaps.shape;
    if (!(s.length === 3 || (s.length === 4 && s[3] === 1)))
      throw new Error(`${fn}: segmentationMaps must be [n, H, W] or [n, H, W, 1], got [${s}]`);
    if (total !== undefined && s[0] !== total)
      throw new Error(`${fn}: segmentationMaps has ${s[0]} maps for ${total} images`);
  }
  const progress = new ProgressReporter('perceptual-compression', total, opts.onProgress);
  const latent = new Totals();
  const pixels = new Totals();
  let grid: [number, number] = [0, 0];
  let patch: [number, number] = [0, 0];
  let count = 0;
  const maps =
    segmentationMaps instanceof tf.Tensor
      ? null
      : sourceItems<tf.Tensor | LabelArray>(segmentationMaps, batchSize);
  try {
    let index = 0;
    for await (const x of imageBatches(images, batchSize, fn, 'images')) {
      const [b, H, W] = x.shape;
      let labels: LabelArray | Float32Array;
      if (maps) {
        const next = await maps.next();
        if (next.done) throw new Error(`${fn}: segmentationMaps ran out at image batch ${index}`);
        labels = await labelData(next.value.item, b, H, W, index);
      } else {
        const t = segmentationMaps as tf.Tensor;
        if (count + b > t.shape[0]) throw new Error(`${fn}: segmentationMaps has only ${t.shape[0]} maps`);
        const part = tf.slice(
          t,
          t.shape.map((_, d) => (d === 0 ? count : 0)),
          t.shape.map((_, d) => (d === 0 ? b : -1)),
        );
        try {
          labels = await labelData(part, b, H, W, index);
        } finally {
          part.dispose();
        }
      }
      const dist = autoencoder.encode(x);
      let z: Float32Array;
      let h: number;
      let w: number;
      let c: number;
      try {
        const m = dist.mean;
        if (m.rank !== 4 || m.shape[0] !== b)
          throw new Error(
            `${fn}: autoencoder '${autoencoder.name}' encoded to a mean of shape [${m.shape}], expected [${b}, h, w, c]`,
          );
        [, h, w, c] = m.shape as [number, number, number, number];
        z = (await m.data()) as Float32Array;
      } finally {
        dist.dispose();
      }
      if (H % h !== 0 || W % w !== 0)
        throw new Error(`${fn}: the ${H}x${W} images do not divide into the ${h}x${w} latent grid`);
      grid = [h, w];
      patch = [H / h, W / w];
      const px = (await x.data()) as Float32Array;
      const per = H * W;
      for (let i = 0; i < b; i++) {
        const lab = patchLabels(labels.subarray(i * per, (i + 1) * per), H, W, h, w, ignore);
        latent.add(
          imageCompressionStats(z.subarray(i * h * w * c, (i + 1) * h * w * c), h * w, c, lab, minCluster),
        );
        const pp = pixelPatches(px.subarray(i * per * 3, (i + 1) * per * 3), H, W, 3, h, w);
        pixels.add(imageCompressionStats(pp, h * w, patch[0] * patch[1] * 3, lab, minCluster));
      }
      count += b;
      index++;
      progress.add(b);
    }
  } finally {
    await maps?.return(undefined);
  }
  if (count === 0) throw new RangeError(`${fn}: images held no images`);
  return { latent: latent.result(), pixels: pixels.result(), grid, patch, count };
}
