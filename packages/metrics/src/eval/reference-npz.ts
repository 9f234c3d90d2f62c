/**
 * Reference sets as `.npz` files in the ADM evaluator's layout: `mu`, `sigma` (pool3), `mu_s`, `sigma_s`
 * (spatial) and `arr_0` (the reference images, uint8 [N, H, W, 3]). The ADM files (e.g.
 * VIRTUAL_imagenet256_labeled.npz) load directly; files written here add `extractor` (the extractor's
 * name as UTF-8 bytes), `count` and `features` (the kept pool features).
 */
import {
  type HostTensor,
  type HostTensorDict,
  type ImageBatchSource,
  parseNpz,
  serializeNpz,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { fidExtractorName } from '../features/fid-extractor.js';
import type { FeatureReference, GaussianStats } from './feature-set.js';

/** Options of {@link referenceFromNpz}. */
export interface ReferenceNpzOptions {
  /**
   * The extractor the statistics belong to, for files that do not say (ADM's). Default
   * `fidExtractorName('adm')`, the FID Inception behind the ADM pipeline: ADM computed them with the
   * original TensorFlow graph, whose pytorch-fid port matches it up to float rounding.
   */
  extractor?: string;
  /** Images per batch when arr_0 is read as an image source. Default 32. */
  batchSize?: number;
}

function floats(t: HostTensor | undefined, key: string, shape: number[] | null): Float64Array | null {
  if (!t) return null;
  if (t.dtype !== 'float64' && t.dtype !== 'float32')
    throw new Error(`referenceFromNpz: '${key}' must be float32 or float64, got ${t.dtype}`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])))
    throw new Error(`referenceFromNpz: '${key}' has shape [${t.shape}], expected [${shape}]`);
  return t.data instanceof Float64Array ? t.data : Float64Array.from(t.data as Float32Array);
}

function stats(tensors: HostTensorDict, mk: string, sk: string): GaussianStats | null {
  const m = tensors[mk];
  if (!m) return null;
  if (m.shape.length !== 1) throw new Error(`referenceFromNpz: '${mk}' must be 1-D, got [${m.shape}]`);
  const d = m.shape[0];
  const mu = floats(m, mk, [d]) as Float64Array;
  const sigma = floats(tensors[sk], sk, [d, d]);
  if (!sigma) throw new Error(`referenceFromNpz: '${mk}' is present but '${sk}' is not`);
  return { mu, sigma };
}

/**
 * arr_0 (uint8 [N, H, W, 3]) as a re-iterable image source. Levels v become (v + 0.25) / 127.5 - 1, which
 * both uint8 quantisations of the pipelines ('ldmae': floor(127.5 x + 128) and 'adm':
 * floor(127.5 (x + 1))) map back to exactly v, whatever the float32 rounding; v / 127.5 - 1 would land on
 * v - 1 under 'adm' whenever rounding falls below the integer.
 */
export function uint8ImageSource(
  data: Uint8Array,
  shape: readonly number[],
  batchSize = 32,
): ImageBatchSource {
  if (shape.length !== 4 || shape[3] !== 3 || data.length !== shape.reduce((a, b) => a * b, 1))
    throw new Error(
      `uint8ImageSource: expected uint8 images [N, H, W, 3], got shape [${shape}] with ${data.length} values`,
    );
  const [n, h, w] = shape;
  const per = h * w * 3;
  return function* () {
    for (let b0 = 0; b0 < n; b0 += batchSize) {
      const b1 = Math.min(n, b0 + batchSize);
      const x = new Float32Array((b1 - b0) * per);
      for (let i = 0; i < x.length; i++) x[i] = (data[b0 * per + i] + 0.25) / 127.5 - 1;
      yield tf.tensor4d(x, [b1 - b0, h, w, 3]);
    }
  };
}

/**
 * A {@link FeatureReference} from `.npz` bytes: ADM's reference batches, or a file from
 * {@link referenceToNpz}. Pool statistics are required; spatial statistics, images and features are
 * read when present.
 */
export function referenceFromNpz(bytes: Uint8Array, opts: ReferenceNpzOptions = {}): FeatureReference {
  const fn = 'referenceFromNpz';
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${fn}: bytes must be a Uint8Array (an .npz file)`);
  const { tensors } = parseNpz(bytes);
  const pool = stats(tensors, 'mu', 'sigma');
  if (!pool)
    throw new Error(`${fn}: the file has no 'mu' (keys: ${Object.keys(tensors).join(', ') || 'none'})`);
  const spatial = stats(tensors, 'mu_s', 'sigma_s');
  let extractor = opts.extractor ?? fidExtractorName('adm');
  const label = tensors.extractor;
  if (label) {
    if (label.dtype !== 'uint8') throw new Error(`${fn}: 'extractor' must be uint8 (UTF-8 bytes)`);
    const named = new TextDecoder().decode(label.data as Uint8Array);
    if (opts.extractor !== undefined && opts.extractor !== named)
      throw new Error(`${fn}: the file's statistics come from '${named}', not '${opts.extractor}'`);
    extractor = named;
  }
  const arr = tensors.arr_0;
  let images: ImageBatchSource | null = null;
  if (arr) {
    if (arr.dtype !== 'uint8')
      throw new Error(`${fn}: 'arr_0' must be uint8 images [N, H, W, 3], got ${arr.dtype}`);
    images = uint8ImageSource(arr.data as Uint8Array, arr.shape, opts.batchSize ?? 32);
  }
  const f = tensors.features;
  let features: Float32Array | null = null;
  if (f) {
    if (f.dtype !== 'float32' || f.shape.length !== 2 || f.shape[1] !== pool.mu.length)
      throw new Error(
        `${fn}: 'features' must be float32 [m, ${pool.mu.length}], got ${f.dtype} [${f.shape}]`,
      );
    features = f.data as Float32Array;
  }
  const c = tensors.count;
  const count = c ? Number((c.data as Float64Array)[0]) : arr ? arr.shape[0] : 0;
  return { extractor, count, pool, spatial, features, images };
}

/** A {@link FeatureReference} as `.npz` bytes (ADM's keys plus `extractor`, `count`, `features`). */
export function referenceToNpz(ref: FeatureReference, opts: { compress?: boolean } = {}): Uint8Array {
  if (ref === null || typeof ref !== 'object' || typeof ref.extractor !== 'string' || !ref.pool)
    throw new TypeError('referenceToNpz: ref must be a FeatureReference');
  const d = ref.pool.mu.length;
  const f64 = (a: Float64Array, shape: number[]): HostTensor => ({
    dtype: 'float64',
    shape,
    data: Float64Array.from(a),
  });
  const out: HostTensorDict = {
    mu: f64(ref.pool.mu, [d]),
    sigma: f64(ref.pool.sigma, [d, d]),
  };
  if (ref.spatial) {
    const s = ref.spatial.mu.length;
    out.mu_s = f64(ref.spatial.mu, [s]);
    out.sigma_s = f64(ref.spatial.sigma, [s, s]);
  }
  const label = new TextEncoder().encode(ref.extractor);
  out.extractor = { dtype: 'uint8', shape: [label.length], data: label };
  out.count = { dtype: 'float64', shape: [1], data: Float64Array.of(ref.count) };
  if (ref.features)
    out.features = { dtype: 'float32', shape: [ref.features.length / d, d], data: ref.features };
  return serializeNpz(out, opts);
}
