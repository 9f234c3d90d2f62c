/**
 * The latent cache on disk: a manifest.json plus shards of safetensors files.
 *
 * Each shard holds, for its n items, `mean` and `logvar` [n, h, w, c] float32 (the posterior of the
 * image), `mean_flip` and `logvar_flip` (of its horizontal mirror, when the cache has flips),
 * `indices` [n] int32 (data-set index of each item) and `labels` [n] int32 for labelled data.
 */

/** Format tag of the manifest and shard metadata. */
export const LATENT_CACHE_FORMAT = 'ldmae-latent-cache';

/** Name of the manifest file in a cache folder. */
export const LATENT_MANIFEST_FILE = 'manifest.json';

/** One shard of a latent cache. */
export interface LatentShardInfo {
  /** File name, relative to the cache folder. */
  file: string;
  /** Items in the shard. */
  count: number;
}

/** manifest.json of a latent cache. */
export interface LatentCacheManifest {
  format: typeof LATENT_CACHE_FORMAT;
  version: 1;
  /** `Autoencoder.name` of the encoder. */
  autoencoder: string;
  /** [H, W, C] of the encoded images. */
  imageShape: [number, number, number];
  /** [h, w, c] of each latent. */
  latentShape: [number, number, number];
  /** Items in all shards. */
  count: number;
  /** Whether the posteriors of the mirrored images are stored too. */
  flip: boolean;
  /** Whether shards hold labels. */
  labelled: boolean;
  /** Class names, when the data set had them. */
  classes?: string[];
  /** Shards in item order. */
  shards: LatentShardInfo[];
  /** Counts the writes into the cache folder (absent in caches written before it was recorded). */
  generation?: number;
  /** Metadata the writer computed from the cache (e.g. latent statistics), committed with it. */
  info?: Record<string, unknown>;
}

/** Shard file name of shard `k`. */
export function latentShardName(k: number): string {
  return `shard-${String(k).padStart(5, '0')}.safetensors`;
}

/** Validate a parsed manifest; `where` names its source in errors. */
export function checkLatentManifest(m: unknown, where = 'latent cache manifest'): LatentCacheManifest {
  const bad = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  if (!m || typeof m !== 'object') bad('is not a JSON object');
  const o = m as Record<string, unknown>;
  if (o.format !== LATENT_CACHE_FORMAT)
    bad(`format is ${JSON.stringify(o.format)}, expected '${LATENT_CACHE_FORMAT}'`);
  if (o.version !== 1) bad(`version ${JSON.stringify(o.version)} is not supported (expected 1)`);
  const triple = (v: unknown): boolean =>
    Array.isArray(v) && v.length === 3 && v.every((d) => Number.isInteger(d) && d > 0);
  if (!triple(o.latentShape))
    bad(`latentShape must be [h, w, c] of positive integers, got ${JSON.stringify(o.latentShape)}`);
  if (!triple(o.imageShape))
    bad(`imageShape must be [H, W, C] of positive integers, got ${JSON.stringify(o.imageShape)}`);
  if (!Array.isArray(o.shards) || o.shards.length === 0) bad('shards must be a non-empty array');
  let total = 0;
  for (const s of o.shards as LatentShardInfo[]) {
    if (!s || typeof s.file !== 'string' || !Number.isInteger(s.count) || s.count <= 0)
      bad(`bad shard entry ${JSON.stringify(s)}`);
    if (s.file.includes('/') || s.file.includes('\\') || s.file.startsWith('.'))
      bad(`shard file ${JSON.stringify(s.file)} must be a plain file name`);
    total += s.count;
  }
  if (o.count !== total) bad(`count is ${o.count} but the shards hold ${total} items`);
  if (typeof o.flip !== 'boolean' || typeof o.labelled !== 'boolean')
    bad('flip and labelled must be booleans');
  if (o.generation !== undefined && !(Number.isSafeInteger(o.generation) && (o.generation as number) >= 0))
    bad(`generation must be a non-negative integer, got ${JSON.stringify(o.generation)}`);
  if (o.info !== undefined && (typeof o.info !== 'object' || o.info === null || Array.isArray(o.info)))
    bad('info must be a JSON object');
  return o as unknown as LatentCacheManifest;
}
