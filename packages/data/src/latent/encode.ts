/**
 * Encoding a data set (or any image batch source) once with any `Autoencoder` into a sharded latent
 * cache.
 */
import {
  type Autoencoder,
  checkImageBatchSource,
  EtaMeter,
  type HostTensor,
  type ImageBatchSource,
  imageSourceCount,
  type ProgressCallback,
  readImageBatches,
  serializeSafetensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../dataset.js';
import { DataLoader } from '../loader/loader.js';
import type { Transform } from '../transforms/transforms.js';
import { LATENT_CACHE_FORMAT, type LatentCacheManifest, latentShardName } from './format.js';

/** Options of {@link encodeLatents}. */
export interface EncodeLatentsOptions {
  /** Where shard files go: called once per shard with its file name and safetensors bytes. */
  write: (file: string, bytes: Uint8Array) => Promise<void>;
  /**
   * Images per encoder call (default 32) when encoding a data set or one tensor; other sources are
   * encoded in the batches they yield.
   */
  batchSize?: number;
  /**
   * Per-image transform before encoding (for example `admCenterCrop(256)`); must give equal sizes. Data
   * sets only (give a `DataLoader` its own transform).
   */
  transform?: Transform | null;
  /** Also store the posterior of each mirrored image, as the reference does (default true). */
  flip?: boolean;
  /** Items per shard file (default 1024). */
  shardSize?: number;
  /** Worker threads for reading / decoding (Node; default 0). Data sets only. */
  workers?: number;
  /**
   * Class names stored in the manifest. Default: the data set's `classes` (a `DataLoader`'s data set's
   * when the source is a loader); none for other sources.
   */
  classes?: readonly string[];
  /** Progress events (phase 'encode', units: images). */
  onProgress?: ProgressCallback;
}

interface ShardBuffer {
  mean: Float32Array;
  logvar: Float32Array;
  meanFlip: Float32Array | null;
  logvarFlip: Float32Array | null;
  labels: Int32Array;
  indices: Int32Array;
  n: number;
}

/** The posterior of images x (of their mirror images with `mirror`) as host arrays. */
async function posterior(
  ae: Autoencoder,
  images: tf.Tensor4D,
  mirror = false,
): Promise<{ mean: Float32Array; logvar: Float32Array; shape: number[] }> {
  const x = mirror ? tf.reverse(images, 2) : images;
  const dist = ae.encode(x);
  try {
    const shape = dist.mean.shape;
    if (shape.length !== 4 || shape[0] !== x.shape[0]) {
      throw new Error(
        `encodeLatents: ${ae.name}.encode returned a posterior of shape [${shape}], expected [${x.shape[0]}, h, w, c]`,
      );
    }
    const [mean, logvar] = await Promise.all([dist.mean.data(), dist.logvar.data()]);
    return { mean: mean as Float32Array, logvar: logvar as Float32Array, shape };
  } finally {
    dist.dispose();
    if (x !== images) x.dispose();
  }
}

/** One batch to encode: images (valid until the next batch is asked for) and where its rows come from. */
interface EncodeBatch {
  x: tf.Tensor4D;
  labels: Int32Array | null;
  indices: Int32Array;
  /** Items this batch accounts for, left-out ones included (for progress). */
  seen: number;
}

function isDataset(x: unknown): x is Dataset {
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof (x as Dataset).get === 'function' &&
    Number.isInteger((x as Dataset).length)
  );
}

/** The batches of a data set: one unshuffled pass through a DataLoader of its own. */
async function* datasetBatches(dataset: Dataset, opts: EncodeLatentsOptions): AsyncGenerator<EncodeBatch> {
  const loader = new DataLoader(dataset, {
    batchSize: opts.batchSize ?? 32,
    shuffle: false,
    transform: opts.transform ?? null,
    workers: opts.workers ?? 0,
  });
  try {
    for (let s = 0; s < loader.stepsPerEpoch; s++) {
      const d = await loader.nextData();
      const x = tf.tensor4d(d.images, d.shape, 'float32');
      try {
        yield { x, labels: d.labels, indices: d.indices, seen: d.indices.length + d.skipped.length };
      } finally {
        x.dispose();
      }
    }
  } finally {
    await loader.close();
  }
}

/**
 * The batches of an image source, one pass (one epoch of a DataLoader). Rows are numbered in reading
 * order unless the batch carries data-set `indices` (as DataLoader batches do).
 */
async function* sourceBatches(
  src: ImageBatchSource,
  opts: EncodeLatentsOptions,
): AsyncGenerator<EncodeBatch> {
  let row = 0;
  for await (const b of readImageBatches(src, {
    caller: 'encodeLatents',
    argument: 'data',
    batchSize: opts.batchSize ?? 32,
  })) {
    const n = b.images.shape[0];
    let labels: Int32Array | null = null;
    if (b.labels) {
      if (b.labels.rank !== 1 || b.labels.shape[0] !== n)
        throw new Error(
          `encodeLatents: batch ${b.index} of data has labels of shape [${b.labels.shape}], expected [${n}]`,
        );
      labels = Int32Array.from(await b.labels.data());
    }
    const given = (b.item as { indices?: unknown }).indices;
    const indices =
      (given instanceof Int32Array || Array.isArray(given)) && given.length === n
        ? Int32Array.from(given as ArrayLike<number>)
        : Int32Array.from({ length: n }, (_, i) => row + i);
    row += n;
    yield { x: b.images, labels, indices, seen: n };
  }
}

/**
 * Encode every image of `data` (one pass, in order) and write the posteriors (mean, logvar; of the
 * image and of its mirror) to safetensors shards through `opts.write`.
 *
 * `data` is a {@link Dataset} (read unshuffled in batches of `opts.batchSize`, with `opts.transform`
 * and `opts.workers`; unreadable items of a data set with onError 'skip' are left out, and each shard's
 * `indices` maps rows back to data-set items) or any `ImageBatchSource` of @ldmae/core: a tensor of
 * the whole set, an array or (async) iterable of batches, a `DataLoader` (one epoch), a function of
 * the step. A source's batches are disposed once encoded (tensors you passed in a tensor or an array
 * stay yours); labels come from batches that carry them (all or none), and `indices` from DataLoader
 * batches, else the reading order.
 * @returns the manifest (write it as manifest.json next to the shards)
 *
 * @example
 * const loader = new DataLoader(await mnist(), { batchSize: 64, shuffle: false, transform: toRgb() });
 * const manifest = await encodeLatents(autoencoder, loader, { write: async (file, bytes) => save(file, bytes) });
 */
export async function encodeLatents(
  ae: Autoencoder,
  data: Dataset | ImageBatchSource,
  opts: EncodeLatentsOptions,
): Promise<LatentCacheManifest> {
  if (!ae || typeof ae.encode !== 'function') throw new TypeError('encodeLatents: ae must be an Autoencoder');
  if (!opts || typeof opts.write !== 'function')
    throw new TypeError('encodeLatents: opts.write(file, bytes) is required');
  const shardSize = opts.shardSize ?? 1024;
  if (!Number.isInteger(shardSize) || shardSize <= 0)
    throw new RangeError(`encodeLatents: shardSize must be a positive integer, got ${shardSize}`);
  const flip = opts.flip ?? true;
  const dataset = isDataset(data) ? data : null;
  if (!dataset)
    checkImageBatchSource(data, {
      caller: 'encodeLatents',
      argument: 'data',
      expected: 'a Dataset or an ImageBatchSource',
      batchSize: opts.batchSize ?? 32,
    });
  const classes =
    opts.classes ?? dataset?.classes ?? (data instanceof DataLoader ? data.dataset.classes : undefined);
  const total = dataset ? dataset.length : (imageSourceCount(data) ?? Number.POSITIVE_INFINITY);
  const meter = new EtaMeter({ total });
  const shards: LatentCacheManifest['shards'] = [];
  let imageShape: [number, number, number] | null = null;
  let latentShape: [number, number, number] | null = null;
  let per = 0;
  let labelled = false;
  let buf: ShardBuffer | null = null;
  let count = 0;
  let seen = 0;

  const flush = async (): Promise<void> => {
    if (!buf || buf.n === 0 || !latentShape) return;
    const n = buf.n;
    const shape = [n, ...latentShape];
    const f32 = (a: Float32Array): HostTensor => ({ dtype: 'float32', shape, data: a.slice(0, n * per) });
    const tensors: Record<string, HostTensor> = {
      mean: f32(buf.mean),
      logvar: f32(buf.logvar),
      indices: { dtype: 'int32', shape: [n], data: buf.indices.slice(0, n) },
    };
    if (buf.meanFlip && buf.logvarFlip) {
      tensors.mean_flip = f32(buf.meanFlip);
      tensors.logvar_flip = f32(buf.logvarFlip);
    }
    if (labelled) tensors.labels = { dtype: 'int32', shape: [n], data: buf.labels.slice(0, n) };
    const file = latentShardName(shards.length);
    await opts.write(
      file,
      serializeSafetensors(tensors, { format: LATENT_CACHE_FORMAT, autoencoder: ae.name }),
    );
    shards.push({ file, count: n });
    buf = null;
  };

  const batches = dataset ? datasetBatches(dataset, opts) : sourceBatches(data as ImageBatchSource, opts);
  let s = 0;
  for await (const d of batches) {
    seen += d.seen;
    const x = d.x;
    const main = await posterior(ae, x);
    const mirrored = flip ? await posterior(ae, x, true) : null;
    if (!latentShape) {
      imageShape = [x.shape[1], x.shape[2], x.shape[3]];
      latentShape = [main.shape[1], main.shape[2], main.shape[3]];
      per = latentShape[0] * latentShape[1] * latentShape[2];
      labelled = d.labels !== null;
    } else if (main.shape.slice(1).join() !== latentShape.join()) {
      throw new Error(
        `encodeLatents: latent shape changed from [${latentShape}] to [${main.shape.slice(1)}] at step ${s}`,
      );
    } else if ((d.labels !== null) !== labelled) {
      throw new Error(
        `encodeLatents: batch ${s} ${labelled ? 'has no labels but the first batch had' : 'has labels but the first batch had none'}`,
      );
    }
    const b = d.indices.length;
    for (let i = 0; i < b; i++) {
      if (!buf) {
        const cap = shardSize * per;
        buf = {
          mean: new Float32Array(cap),
          logvar: new Float32Array(cap),
          meanFlip: flip ? new Float32Array(cap) : null,
          logvarFlip: flip ? new Float32Array(cap) : null,
          labels: new Int32Array(shardSize),
          indices: new Int32Array(shardSize),
          n: 0,
        };
      }
      const o = buf.n * per;
      buf.mean.set(main.mean.subarray(i * per, (i + 1) * per), o);
      buf.logvar.set(main.logvar.subarray(i * per, (i + 1) * per), o);
      if (mirrored && buf.meanFlip && buf.logvarFlip) {
        buf.meanFlip.set(mirrored.mean.subarray(i * per, (i + 1) * per), o);
        buf.logvarFlip.set(mirrored.logvar.subarray(i * per, (i + 1) * per), o);
      }
      if (d.labels) buf.labels[buf.n] = d.labels[i];
      buf.indices[buf.n] = d.indices[i];
      buf.n++;
      count++;
      if (buf.n === shardSize) await flush();
    }
    s++;
    meter.update(seen);
    opts.onProgress?.(meter.progress('encode'));
  }
  await flush();
  if (count === 0 || !imageShape || !latentShape) throw new Error('encodeLatents: no item could be encoded');
  return {
    format: LATENT_CACHE_FORMAT,
    version: 1,
    autoencoder: ae.name,
    imageShape,
    latentShape,
    count,
    flip,
    labelled,
    ...(classes ? { classes: [...classes] } : {}),
    shards,
  };
}
