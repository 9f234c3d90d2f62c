/**
 * Node-only: locate the InceptionV3 files of the installed npm package `nsfwjs` and read them, without
 * running nsfwjs's loader (which needs `@tensorflow/tfjs` and takes ~100 s here).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InceptionTrunk, type InceptionTrunkOptions } from './inception-trunk.js';
import type { KerasLayersModelJson, NsfwjsInceptionSource } from './nsfwjs-source.js';

const require = createRequire(import.meta.url);

/** The folder holding nsfwjs's `inception_v3/model.min.js` and its six weight shards. */
export function nsfwjsInceptionDir(): string {
  let entry: string;
  try {
    // The package's exports map hides dist/models/; its CJS entry for the model sits two levels below.
    entry = require.resolve('nsfwjs/models/inception_v3');
  } catch (e) {
    throw new Error(
      `nsfwjsInceptionDir: the npm package 'nsfwjs' (4.4.0) is not installed (an optional peer dependency of @ldmae/losses: run 'npm install nsfwjs@4.4.0 --legacy-peer-deps'): ${(e as Error).message}`,
    );
  }
  return join(dirname(entry), '..', '..', 'models', 'inception_v3');
}

/** Read nsfwjs's InceptionV3 model JSON and weight shards from the installed package. */
export async function readNsfwjsInceptionSource(dir = nsfwjsInceptionDir()): Promise<NsfwjsInceptionSource> {
  let modelJson: KerasLayersModelJson;
  try {
    // model.min.js is a CommonJS module (nsfwjs marks dist/models as "type": "commonjs") whose export
    // is the model.json object, written as a JS literal rather than JSON.
    modelJson = require(join(dir, 'model.min.js')) as KerasLayersModelJson;
  } catch (e) {
    throw new Error(
      `readNsfwjsInceptionSource: cannot load ${join(dir, 'model.min.js')}: ${(e as Error).message}`,
    );
  }
  const paths = modelJson?.weightsManifest?.flatMap((g) => g.paths);
  if (!paths?.length)
    throw new Error(`readNsfwjsInceptionSource: ${join(dir, 'model.min.js')} has no weightsManifest`);
  const weightShards = await Promise.all(paths.map((p) => readFile(join(dir, `${p}.min.js`), 'utf8')));
  return { modelJson, weightShards };
}

/**
 * The offline LPIPS trunk 'nsfwjs-inceptionv3-early' (see {@link InceptionTrunk}), read from the
 * installed `nsfwjs` package. Takes about a second.
 */
export async function loadNsfwjsInceptionTrunk(
  opts: InceptionTrunkOptions & { dir?: string } = {},
): Promise<InceptionTrunk> {
  return new InceptionTrunk(await readNsfwjsInceptionSource(opts.dir), opts);
}
