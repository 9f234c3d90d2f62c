/**
 * Encoding a data set once into a latent cache (shards + manifest, @ldmae/data's format) and the
 * per-channel latent normalisation the diffusion model trains in: the work behind `encode` and the
 * second phase of `quickstart`.
 */
import { join } from 'node:path';
import type { Autoencoder, LatentNormalization } from '@ldmae/core';
import { type LatentCacheManifest, LatentLoader, openLatentCache, writeLatentCache } from '@ldmae/data';
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
  let manifest: LatentCacheManifest;
  try {
    manifest = await writeLatentCache(opts.outDir, ae, data.dataset, {
      batchSize: opts.batchSize,
      transform: data.transform,
      flip: opts.flip,
      onProgress: (ev) => {
        // encodeLatents has no abort signal: stopping from its progress callback ends it between batches.
        if (opts.signal.aborted) throw new InterruptedError('encode interrupted');
        phase.progress(ev);
      },
    });
  } catch (e) {
    phase.finish({ status: e instanceof InterruptedError ? 'stopped' : 'failed' });
    if (e instanceof InterruptedError) {
      throw new InterruptedError(
        `encode interrupted; the cache in ${opts.outDir} is incomplete (no manifest.json) and will be rewritten`,
        `run again with: ${resumeCommand(opts.argv)}`,
      );
    }
    throw e;
  }
  phase.finish();
  const norm = await cacheNormalization(opts.outDir);
  const info: CacheInfo = {
    normalization: norm.normalization,
    normalizationCount: norm.count,
    autoencoder: opts.aePath,
    data: { name: data.name, split: data.split, description: data.description, imageSize: data.imageSize },
  };
  await writeJson(join(opts.outDir, CACHE_INFO_FILE), info);
  return { manifest, info };
}

/**
 * Per-channel shift (mean) and scale (1 / std) of posterior samples z = mean + exp(logvar / 2) eps of up
 * to `max` items of the cache (the reference uses 10,000), in float64.
 */
export async function cacheNormalization(
  dir: string,
  max = 10_000,
): Promise<{ normalization: LatentNormalization; count: number }> {
  const source = await openLatentCache(dir);
  try {
    const n = Math.min(max, source.length);
    const batch = Math.min(256, n);
    const loader = new LatentLoader(source, { batchSize: batch, seed: 12345, flipProbability: 0 });
    const c = source.manifest.latentShape[2];
    const sum = new Float64Array(c);
    const sq = new Float64Array(c);
    let count = 0;
    for (let seen = 0; seen < n; ) {
      const b = await loader.nextData();
      const take = Math.min(b.shape[0], n - seen);
      const per = b.shape[1] * b.shape[2] * c;
      for (let i = 0; i < take * per; i++) {
        const v = b.latents[i];
        sum[i % c] += v;
        sq[i % c] += v * v;
      }
      count += take * b.shape[1] * b.shape[2];
      seen += take;
    }
    const shift = Array.from(sum, (s) => s / count);
    const scale = Array.from(sq, (s, k) => 1 / Math.sqrt(Math.max(s / count - shift[k] ** 2, 1e-12)));
    return { normalization: { shift, scale }, count: n };
  } finally {
    await source.close();
  }
}

/** Read the cache info of a cache folder (null for caches written by other tools). */
export function readCacheInfo(dir: string): Promise<CacheInfo | null> {
  return readJson<CacheInfo>(join(dir, CACHE_INFO_FILE));
}
