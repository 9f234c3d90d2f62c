/**
 * Encoding a data set once with any `Autoencoder` into a sharded latent cache.
 */
import {
  type Autoencoder,
  EtaMeter,
  type HostTensor,
  type ProgressCallback,
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
  /** Images per encoder call (default 32). */
  batchSize?: number;
  /** Per-image transform before encoding (for example `admCenterCrop(256)`); must give equal sizes. */
  transform?: Transform | null;
  /** Also store the posterior of each mirrored image, as the reference does (default true). */
  flip?: boolean;
  /** Items per shard file (default 1024). */
  shardSize?: number;
  /** Worker threads for reading / decoding (Node; default 0). */
  workers?: number;
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

async function posterior(
  ae: Autoencoder,
  x: tf.Tensor4D,
): Promise<{ mean: Float32Array; logvar: Float32Array; shape: number[] }> {
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
  }
}

/**
 * Encode every item of `dataset` (in order, one pass) and write the posteriors (mean, logvar; of the
 * image and of its mirror) to safetensors shards through `opts.write`. Unreadable items of a data set
 * with onError 'skip' are left out (each shard's `indices` maps rows back to data-set items).
 * @returns the manifest (write it as manifest.json next to the shards)
 */
export async function encodeLatents(
  ae: Autoencoder,
  dataset: Dataset,
  opts: EncodeLatentsOptions,
): Promise<LatentCacheManifest> {
  if (!ae || typeof ae.encode !== 'function') throw new TypeError('encodeLatents: ae must be an Autoencoder');
  if (!opts || typeof opts.write !== 'function')
    throw new TypeError('encodeLatents: opts.write(file, bytes) is required');
  const shardSize = opts.shardSize ?? 1024;
  if (!Number.isInteger(shardSize) || shardSize <= 0)
    throw new RangeError(`encodeLatents: shardSize must be a positive integer, got ${shardSize}`);
  const flip = opts.flip ?? true;
  const loader = new DataLoader(dataset, {
    batchSize: opts.batchSize ?? 32,
    shuffle: false,
    transform: opts.transform ?? null,
    workers: opts.workers ?? 0,
  });
  const meter = new EtaMeter({ total: dataset.length });
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

  try {
    for (let s = 0; s < loader.stepsPerEpoch; s++) {
      const d = await loader.nextData();
      seen += d.indices.length + d.skipped.length;
      const x = tf.tensor4d(d.images, d.shape, 'float32');
      let main: Awaited<ReturnType<typeof posterior>>;
      let mirrored: Awaited<ReturnType<typeof posterior>> | null = null;
      try {
        main = await posterior(ae, x);
        if (flip) {
          const xf = tf.reverse(x, 2);
          try {
            mirrored = await posterior(ae, xf);
          } finally {
            xf.dispose();
          }
        }
      } finally {
        x.dispose();
      }
      if (!latentShape) {
        imageShape = [d.shape[1], d.shape[2], d.shape[3]];
        latentShape = [main.shape[1], main.shape[2], main.shape[3]];
        per = latentShape[0] * latentShape[1] * latentShape[2];
        labelled = d.labels !== null;
      } else if (main.shape.slice(1).join() !== latentShape.join()) {
        throw new Error(
          `encodeLatents: latent shape changed from [${latentShape}] to [${main.shape.slice(1)}] at step ${s}`,
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
      meter.update(seen);
      opts.onProgress?.(meter.progress('encode'));
    }
    await flush();
  } finally {
    await loader.close();
  }
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
    ...(dataset.classes ? { classes: [...dataset.classes] } : {}),
    shards,
  };
}
