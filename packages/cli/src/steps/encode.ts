/**
 * Encoding a data set once into a latent cache (shards + manifest, @ldmae/data's format) and the
 * per-channel latent normalisation the diffusion model trains in: the work behind `encode` and the
 * second phase of `quickstart`.
 */
import { join, resolve } from 'node:path';
import { type Autoencoder, ChannelMoments, type LatentNormalization } from '@ldmae/core';
import {
  type LatentCacheManifest,
  LatentLoader,
  type LatentSource,
  openLatentCache,
  readLatentManifest,
  writeLatentCache,
} from '@ldmae/data';
import type { LoadedData } from '../data-source.js';
import { InterruptedError, resumeCommand } from '../errors.js';
import { readJson, writeJson } from '../files.js';
import type { Reporter } from '../progress.js';

/** The CLI's notes beside a cache's manifest.json. */
export interface CacheInfo {
  /** (z - shift) * scale per channel, from posterior samples of the cache. */
  normalization: LatentNormalization;
  /** Latents the statistics came from. */
  normalizationCount: number;
  /** Path of the autoencoder that encoded the cache (as given). */
  autoencoder: string;
  /** The data source, split and description. */
  data: { name: string; split: string; description: string; imageSize: number };
}

/** File of {@link CacheInfo} in a cache folder. */
export const CACHE_INFO_FILE = 'cache-info.json';

/** Options of {@link encodeDataset}. */
export interface EncodeOptions {
  outDir: string;
  /** Path of the autoencoder, recorded in the cache info. */
  aePath: string;
  batchSize: number;
  /** Also store the posteriors of mirrored images (not for digits: a mirrored 7 is no 7). */
  flip: boolean;
  reporter: Reporter;
  signal: AbortSignal;
  argv: readonly string[];
  phase?: string;
}

/** Encode `data` with `ae` into `opts.outDir`; returns the manifest and the cache info. */
export async function encodeDataset(
  ae: Autoencoder,
  data: LoadedData,
  opts: EncodeOptions,
): Promise<{ manifest: LatentCacheManifest; info: CacheInfo }> {
  const { reporter } = opts;
  const phase = reporter.phase(opts.phase ?? 'encode', data.dataset.length, 'images');
  const dataInfo = {
    name: data.name,
    split: data.split,
    description: data.description,
    imageSize: data.imageSize,
  };
  let manifest: LatentCacheManifest;
  try {
    // The normalisation is computed from the new latents and committed with them in manifest.json.
    manifest = await writeLatentCache(opts.outDir, ae, data.dataset, {
      batchSize: opts.batchSize,
      transform: data.transform,
      flip: opts.flip,
      onProgress: (ev) => {
        // encodeLatents has no abort signal: stopping from its progress callback ends it between batches.
        if (opts.signal.aborted) throw new InterruptedError('encode interrupted');
        phase.progress(ev);
      },
      info: async (cache): Promise<Record<string, unknown>> => {
        const norm = await sourceNormalization(cache);
        const info: CacheInfo = {
          normalization: norm.normalization,
          normalizationCount: norm.count,
          // Absolute, so train-ldm finds it from any working directory.
          autoencoder: resolve(opts.aePath),
          data: dataInfo,
        };
        return { ...info };
      },
    });
  } catch (e) {
    phase.finish({ status: e instanceof InterruptedError ? 'stopped' : 'failed' });
    if (e instanceof InterruptedError) {
      throw new InterruptedError(
        `encode interrupted; ${opts.outDir} still holds the cache it held before (if any)`,
        `run again with: ${resumeCommand(opts.argv)}`,
      );
    }
    throw e;
  }
  phase.finish();
  const info = manifest.info as unknown as CacheInfo;
  // A copy for readers of earlier versions (and the playground); manifest.json is what counts.
  await writeJson(join(opts.outDir, CACHE_INFO_FILE), info);
  return { manifest, info };
}

/**
 * Per-channel shift (mean) and scale (1 / std) of posterior samples z = mean + exp(logvar / 2) eps of up
 * to `max` items of the cache (the reference uses 10,000), with core's streaming float64 fitter.
 */
export async function cacheNormalization(
  dir: string,
  max = 10_000,
): Promise<{ normalization: LatentNormalization; count: number }> {
  const source = await openLatentCache(dir);
  try {
    return await sourceNormalization(source, max);
  } finally {
    await source.close();
  }
}

/** {@link cacheNormalization} of an open cache. */
async function sourceNormalization(
  source: LatentSource,
  max = 10_000,
): Promise<{ normalization: LatentNormalization; count: number }> {
  const n = Math.min(max, source.length);
  const batch = Math.min(256, n);
  const loader = new LatentLoader(source, { batchSize: batch, seed: 12345, flipProbability: 0 });
  const c = source.manifest.latentShape[2];
  const moments = new ChannelMoments(c);
  for (let seen = 0; seen < n; ) {
    const b = await loader.nextData();
    const take = Math.min(b.shape[0], n - seen);
    moments.add(b.latents.subarray(0, take * b.shape[1] * b.shape[2] * c));
    seen += take;
  }
  // A constant channel gets scale 1e6 rather than an error: caches of degenerate models still train.
  return { normalization: moments.normalization(1e-12), count: n };
}

/**
 * Read the cache info of a cache folder: from its manifest.json (committed with the latents), else
 * from cache-info.json (caches of earlier versions); null for caches written by other tools.
 */
export async function readCacheInfo(dir: string): Promise<CacheInfo | null> {
  const manifest = await readLatentManifest(dir).catch(() => null);
  const info = manifest?.info as Partial<CacheInfo> | undefined;
  if (info?.normalization && Array.isArray(info.normalization.shift)) return info as CacheInfo;
  return readJson<CacheInfo>(join(dir, CACHE_INFO_FILE));
}
