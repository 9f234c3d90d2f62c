/**
 * Reading the InceptionV3 that the npm package `nsfwjs` ships: a Keras layers model.json (as a JS
 * module) and base64 weight shards (as JS modules), uint8-quantised. Browser-safe: the caller hands
 * over the model JSON object and the shard contents; `index.node.ts` reads them from the installed
 * package.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One layer of a Keras (2.x) functional model config. */
export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** [[[inboundLayerName, nodeIndex, tensorIndex, kwargs], ...]] */
  inbound_nodes: unknown[][];
}

/** The parts of a tfjs layers-model `model.json` this package reads. */
export interface KerasLayersModelJson {
  modelTopology: { model_config: { class_name: string; config: { layers: KerasLayerJson[] } } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * The InceptionV3 of `nsfwjs` 4.4.0 (dist/models/inception_v3/): `modelJson` is what
 * `model.min.js` exports, `weightShards` the six `group1-shard{i}of6.min.js` files in order, each as
 * the file's text, the bare base64 string it exports, or decoded bytes. In a browser bundle they are
 * what `(await import('nsfwjs/models/inception_v3')).InceptionV3Model.modelJson()` and
 * `.weightBundles[i]()` resolve to (their `default`).
 */
export interface NsfwjsInceptionSource {
  modelJson: KerasLayersModelJson;
  weightShards: (string | Uint8Array)[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(s: string): Uint8Array {
  const B = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (B) {
    const b = B.from(s, 'base64');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The bytes of one weight shard given as bytes, a base64 string, or the text of a `*.min.js` shard
 * module (a browserify bundle whose module sets `exports = "<base64>"`).
 */
export function shardBytes(shard: string | Uint8Array, what = 'shard'): Uint8Array {
  if (shard instanceof Uint8Array) return shard;
  if (typeof shard !== 'string')
    throw new TypeError(`${what}: expected a string or Uint8Array, got ${typeof shard}`);
  let b64 = shard;
  if (!BASE64.test(shard.slice(0, 256))) {
    const m = /exports\s*=\s*"([A-Za-z0-9+/=]+)"/.exec(shard);
    if (!m) throw new Error(`${what}: neither base64 nor a shard module exporting a base64 string`);
    b64 = m[1];
  }
  if (b64.length % 4 !== 0) throw new Error(`${what}: base64 length ${b64.length} is not a multiple of 4`);
  return decodeBase64(b64);
}

function bytesPerElement(e: tf.io.WeightsManifestEntry): number {
  const q = e.quantization?.dtype;
  if (q) {
    if (q === 'uint8') return 1;
    if (q === 'uint16' || q === 'float16') return 2;
    throw new Error(`weight '${e.name}': unknown quantisation dtype '${q}'`);
  }
  if (e.dtype === 'float32' || e.dtype === 'int32') return 4;
  if (e.dtype === 'bool') return 1;
  throw new Error(`weight '${e.name}': unsupported dtype '${e.dtype}'`);
}

/**
 * Decode the named weights of a tfjs weights manifest (dequantised by `tf.io.decodeWeights`). Only the
 * requested entries are materialised; the caller owns the tensors.
 * @throws when a shard count or size disagrees with the manifest, or a name is not in it.
 */
export function decodeManifestWeights(
  manifest: KerasLayersModelJson['weightsManifest'],
  shards: (string | Uint8Array)[],
  names: ReadonlySet<string>,
): Map<string, tf.Tensor> {
  const want = manifest.reduce((a, g) => a + g.paths.length, 0);
  if (shards.length !== want) {
    throw new Error(
      `decodeManifestWeights: the manifest lists ${want} shard files, got ${shards.length} shards`,
    );
  }
  const out = new Map<string, tf.Tensor>();
  let s = 0;
  try {
    for (const group of manifest) {
      const parts = group.paths.map((p, i) => shardBytes(shards[s + i], `weight shard '${p}'`));
      s += group.paths.length;
      const total = parts.reduce((a, p) => a + p.length, 0);
      const buf = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        buf.set(p, o);
        o += p.length;
      }
      let offset = 0;
      for (const e of group.weights) {
        const n = e.shape.reduce((a, d) => a * d, 1) * bytesPerElement(e);
        if (names.has(e.name)) {
          if (offset + n > total)
            throw new Error(`decodeManifestWeights: '${e.name}' lies past the end of its shards`);
          const slice = buf.slice(offset, offset + n).buffer;
          const t = tf.io.decodeWeights(slice, [e])[e.name];
          out.set(e.name, t);
        }
        offset += n;
      }
      if (offset !== total) {
        throw new Error(
          `decodeManifestWeights: the manifest describes ${offset} bytes, the shards hold ${total}`,
        );
      }
    }
    const missing = [...names].filter((n) => !out.has(n));
    if (missing.length)
      throw new Error(`decodeManifestWeights: not in the manifest: ${missing.slice(0, 5).join(', ')}`);
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}
