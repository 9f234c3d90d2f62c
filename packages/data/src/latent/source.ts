/**
 * Random access to cached posteriors, from shards held in memory (any platform).
 */
import { type HostTensor, parseSafetensors } from '@ldmae/core';
import { checkLatentManifest, type LatentCacheManifest } from './format.js';

/** The posterior of one item (mean and log-variance, [h, w, c] flattened) and its label. */
export interface LatentItem {
  mean: Float32Array;
  logvar: Float32Array;
  label?: number;
}

/** Random access to a latent cache. */
export interface LatentSource {
  readonly manifest: LatentCacheManifest;
  /** Items in the cache. */
  readonly length: number;
  /** Item `index`, of the mirrored image when `flip` (the cache must have flips). */
  read(index: number, flip: boolean): Promise<LatentItem>;
  /** Release files / memory. */
  close(): Promise<void>;
}

/** Locate item `index` in the shards: [shard number, row in that shard]. */
export function shardOffsets(manifest: LatentCacheManifest): Float64Array {
  const starts = new Float64Array(manifest.shards.length + 1);
  manifest.shards.forEach((s, k) => {
    starts[k + 1] = starts[k] + s.count;
  });
  return starts;
}

/** Binary search of `index` in the shard start offsets. */
export function findShard(starts: Float64Array, index: number): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Names of the tensors of one variant. */
export function latentTensorNames(flip: boolean): [string, string] {
  return flip ? ['mean_flip', 'logvar_flip'] : ['mean', 'logvar'];
}

/** The check of `read`'s arguments every {@link LatentSource} makes. */
export function checkRead(source: LatentSource, index: number, flip: boolean): void {
  if (!Number.isInteger(index) || index < 0 || index >= source.length)
    throw new RangeError(`latent cache: index must be an integer in [0, ${source.length}), got ${index}`);
  if (flip && !source.manifest.flip)
    throw new Error('latent cache: flip requested but the cache has no flipped latents');
}

/** Check one parsed shard against the manifest; returns its tensors. */
export function checkShard(
  tensors: Record<string, HostTensor>,
  manifest: LatentCacheManifest,
  k: number,
): Record<string, HostTensor> {
  const { file, count } = manifest.shards[k];
  const [h, w, c] = manifest.latentShape;
  const names = ['mean', 'logvar', ...(manifest.flip ? ['mean_flip', 'logvar_flip'] : [])];
  for (const name of names) {
    const t = tensors[name];
    if (!t) throw new Error(`latent cache: shard ${file} has no tensor '${name}'`);
    const want = [count, h, w, c];
    if (t.dtype !== 'float32' || t.shape.join() !== want.join()) {
      throw new Error(`latent cache: ${file}:${name} is ${t.dtype} [${t.shape}], expected float32 [${want}]`);
    }
  }
  if (manifest.labelled) {
    const l = tensors.labels;
    if (l?.dtype !== 'int32' || l.shape.join() !== String(count))
      throw new Error(`latent cache: shard ${file} needs int32 labels [${count}]`);
  }
  return tensors;
}

/** A latent cache held in memory, built from the manifest and the bytes of every shard. */
export class MemoryLatentSource implements LatentSource {
  readonly manifest: LatentCacheManifest;
  readonly length: number;
  private readonly shards: Record<string, HostTensor>[];
  private readonly starts: Float64Array;
  private readonly per: number;

  /**
   * @param manifest the parsed manifest.json
   * @param shardBytes safetensors bytes of each shard, in manifest order
   */
  constructor(manifest: LatentCacheManifest, shardBytes: readonly Uint8Array[]) {
    this.manifest = checkLatentManifest(manifest);
    if (shardBytes.length !== manifest.shards.length) {
      throw new RangeError(
        `MemoryLatentSource: ${shardBytes.length} shard buffers for ${manifest.shards.length} shards`,
      );
    }
    this.shards = shardBytes.map((b, k) => {
      let tensors: Record<string, HostTensor>;
      try {
        tensors = parseSafetensors(b).tensors;
      } catch (e) {
        throw new Error(
          `latent cache: shard ${manifest.shards[k].file} is not a readable safetensors file (${(e as Error).message})`,
        );
      }
      return checkShard(tensors, manifest, k);
    });
    this.starts = shardOffsets(manifest);
    this.length = manifest.count;
    const [h, w, c] = manifest.latentShape;
    this.per = h * w * c;
  }

  async read(index: number, flip: boolean): Promise<LatentItem> {
    checkRead(this, index, flip);
    const k = findShard(this.starts, index);
    const row = index - this.starts[k];
    const t = this.shards[k];
    const [m, lv] = latentTensorNames(flip);
    const at = (name: string) =>
      (t[name].data as Float32Array).subarray(row * this.per, (row + 1) * this.per);
    const item: LatentItem = { mean: at(m), logvar: at(lv) };
    if (this.manifest.labelled) item.label = (t.labels.data as Int32Array)[row];
    return item;
  }

  async close(): Promise<void> {}
}
