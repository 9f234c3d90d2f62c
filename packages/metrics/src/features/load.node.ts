/**
 * Node-only: the FID Inception from a weights file a user gives, and the offline nsfwjs extractor read
 * from the installed `nsfwjs` package (without running nsfwjs's own loader, which needs
 * `@tensorflow/tfjs` and takes ~100 s here).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { formatFromPath, type HostTensorDict, parseTensorFile, toTfTensors } from '@ldmae/core';
import type { KerasLayersModelJson, NsfwjsInceptionSource } from '@ldmae/losses';
import type * as tf from '@tensorflow/tfjs-core';
import { type FidExtractorOptions, FidInceptionExtractor } from './fid-extractor.js';
import { FidInceptionV3 } from './fid-inception.js';
import { type NsfwjsExtractorOptions, NsfwjsFeatureExtractor } from './nsfwjs-extractor.js';

const require = createRequire(import.meta.url);

/**
 * The FID Inception extractor with weights from a file: pytorch-fid's
 * `pt_inception-2015-12-05-6726825d.pth` (or the same state dict as .safetensors / .npz), names
 * `Conv2d_1a_3x3.conv.weight`, `Conv2d_1a_3x3.bn.{weight,bias,running_mean,running_var}`, ...,
 * `fc.weight` [1008, 2048], `fc.bias`. Loaded strictly: a file with missing, extra or misshapen entries
 * is refused before any weight is assigned.
 *
 * @param weights - a file path, or a state dict of tf tensors (which stays the caller's).
 * @param opts - pipeline ('adm' default, or 'pytorch-fid'), label of the weights, ...
 */
export async function loadFidInceptionExtractor(
  weights: string | Record<string, tf.Tensor>,
  opts: FidExtractorOptions = {},
): Promise<FidInceptionExtractor> {
  let dict: Record<string, tf.Tensor>;
  let owned = false;
  if (typeof weights === 'string') {
    const host = parseTensorFile(new Uint8Array(await readFile(weights)), formatFromPath(weights)).tensors;
    const kept: HostTensorDict = {};
    for (const [k, v] of Object.entries(host)) if (!k.endsWith('.num_batches_tracked')) kept[k] = v;
    dict = toTfTensors(kept);
    owned = true;
  } else if (weights !== null && typeof weights === 'object') dict = weights;
  else throw new TypeError('loadFidInceptionExtractor: weights must be a file path or a state dict');
  const net = new FidInceptionV3();
  try {
    net.loadStateDict(dict);
    return new FidInceptionExtractor(net, opts);
  } catch (e) {
    net.dispose();
    throw e;
  } finally {
    if (owned) for (const t of Object.values(dict)) t.dispose();
  }
}

/** The folder of nsfwjs's `inception_v3/model.min.js` and its six weight shards. */
export function nsfwjsModelDir(): string {
  let entry: string;
  try {
    // The exports map hides dist/models/; its CJS entry for the model sits two levels below them.
    entry = require.resolve('nsfwjs/models/inception_v3');
  } catch (e) {
    throw new Error(
      `nsfwjsModelDir: the npm package 'nsfwjs' (4.4.0) is not installed (an optional peer dependency of @ldmae/metrics: 'npm install nsfwjs@4.4.0 --legacy-peer-deps'): ${(e as Error).message}`,
    );
  }
  return join(dirname(entry), '..', '..', 'models', 'inception_v3');
}

/** nsfwjs's InceptionV3 model JSON and weight shards, read from the installed package (or `dir`). */
export async function readNsfwjsModel(dir = nsfwjsModelDir()): Promise<NsfwjsInceptionSource> {
  let modelJson: KerasLayersModelJson;
  try {
    // A CommonJS module whose export is the model.json object.
    modelJson = require(join(dir, 'model.min.js')) as KerasLayersModelJson;
  } catch (e) {
    throw new Error(`readNsfwjsModel: cannot load ${join(dir, 'model.min.js')}: ${(e as Error).message}`);
  }
  const paths = modelJson?.weightsManifest?.flatMap((g) => g.paths);
  if (!paths?.length) throw new Error(`readNsfwjsModel: ${join(dir, 'model.min.js')} has no weightsManifest`);
  const weightShards = await Promise.all(paths.map((p) => readFile(join(dir, `${p}.min.js`), 'utf8')));
  return { modelJson, weightShards };
}

/**
 * The offline default {@link NsfwjsFeatureExtractor} ('nsfwjs-4.4.0-inceptionv3:flatten_1'), read from the
 * installed `nsfwjs` package in about a second.
 */
export async function loadOfflineFeatureExtractor(
  opts: NsfwjsExtractorOptions & { dir?: string } = {},
): Promise<NsfwjsFeatureExtractor> {
  return new NsfwjsFeatureExtractor(await readNsfwjsModel(opts.dir), opts);
}
