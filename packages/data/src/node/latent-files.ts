/**
 * Latent caches in a folder: writing (a new generation of shards, committed by replacing the manifest)
 * and opening for streaming,
 * either fully in memory or with per-item positioned reads for caches larger than memory.
 */
import { type FileHandle, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Autoencoder, ImageBatchSource } from '@ldmae/core';
import * as core from '@ldmae/core';
import type { Dataset } from '../dataset.js';
import { type EncodeLatentsOptions, encodeLatents } from '../latent/encode.js';
import { checkLatentManifest, LATENT_MANIFEST_FILE, type LatentCacheManifest } from '../latent/format.js';
import {
  checkRead,
  findShard,
  type LatentItem,
  type LatentSource,
  latentTensorNames,
  MemoryLatentSource,
  shardOffsets,
} from '../latent/source.js';

/** The Node-only functions of @ldmae/core used here (its Node entry has them; see vmae's node-core.ts). */
interface NodeCoreFs {
  writeFileAtomic(path: string, data: Uint8Array, what?: string): Promise<void>;
  removeStaleTempFiles(dir: string): Promise<string[]>;
}
const nodeFs = core as unknown as NodeCoreFs;

/** Shard files of any generation: `g<generation>-shard-<k>.safetensors`, or `shard-<k>.safetensors` of older caches. */
const SHARD_RE = /^(?:g(\d+)-)?shard-\d{5}\.safetensors$/;

/** Options of {@link writeLatentCache}. */
export interface WriteLatentCacheOptions extends Omit<EncodeLatentsOptions, 'write'> {
  /**
   * Metadata computed from the new cache before it is committed (for example its latent statistics),
   * stored as the manifest's `info`: it is replaced together with the latents, never beside them.
   */
  info?: (cache: LatentSource) => Promise<Record<string, unknown>> | Record<string, unknown>;
}

/**
 * Encode `data` (a {@link Dataset} or any `ImageBatchSource`, such as a `DataLoader`: see
 * {@link encodeLatents}) with `ae` into folder `dir` (created if needed) and commit it in one step. The
 * shards are written (each atomically) under names of a new generation, `g<n>-shard-00000.safetensors`,
 * ...; then `opts.info` runs on them; then manifest.json, which lists the shards, is replaced
 * atomically: that is the commit. Only then are the shards of the previous cache removed. A kill, crash
 * or full disk at any point leaves the folder holding the previous cache (or none) or the new one,
 * never a mix; leftovers of killed writes are removed by the next write.
 */
export async function writeLatentCache(
  dir: string,
  ae: Autoencoder,
  data: Dataset | ImageBatchSource,
  opts: WriteLatentCacheOptions = {},
): Promise<LatentCacheManifest> {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new TypeError('writeLatentCache: dir must be a folder path');
  const { info, ...encodeOpts } = opts;
  if (info !== undefined && typeof info !== 'function')
    throw new TypeError('writeLatentCache: opts.info must be a function (cache) => metadata');
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`latent cache: cannot create the folder '${dir}' (${(e as Error).message})`, {
      cause: e,
    });
  }
  await nodeFs.removeStaleTempFiles(dir);
  const current = await readLatentManifest(dir).catch(() => null);
  const before = await readdir(dir);
  let generation = current?.generation ?? 0;
  for (const name of before) generation = Math.max(generation, Number(SHARD_RE.exec(name)?.[1] ?? 0));
  generation++;
  const shardName = (file: string) => `g${generation}-${file}`;
  const encoded = await encodeLatents(ae, data, {
    ...encodeOpts,
    write: (file, bytes) => nodeFs.writeFileAtomic(join(dir, shardName(file)), bytes, 'latent shard'),
  });
  const manifest: LatentCacheManifest = {
    ...encoded,
    generation,
    shards: encoded.shards.map((s) => ({ ...s, file: shardName(s.file) })),
  };
  if (info) {
    const source = new FileLatentSource(dir, manifest);
    try {
      manifest.info = await info(source);
    } finally {
      await source.close();
    }
  }
  await nodeFs.writeFileAtomic(
    join(dir, LATENT_MANIFEST_FILE),
    new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    'latent cache manifest',
  );
  // Committed: shards no manifest lists any more (the previous cache, killed writes) go.
  const keep = new Set(manifest.shards.map((s) => s.file));
  for (const name of await readdir(dir)) {
    if (SHARD_RE.test(name) && !keep.has(name)) await unlink(join(dir, name)).catch(() => {});
  }
  return manifest;
}

/** Read and validate manifest.json of a cache folder. */
export async function readLatentManifest(dir: string): Promise<LatentCacheManifest> {
  const path = join(dir, LATENT_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(
      `latent cache: cannot read ${path} (${(e as Error).message}); is ${dir} a latent cache folder?`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`latent cache: ${path} is not valid JSON (${(e as Error).message})`);
  }
  return checkLatentManifest(json, path);
}

interface ShardIndex {
  dataStart: number;
  offsets: Record<string, number>;
  labels: Int32Array | null;
}

/** Per-item positioned reads from the shard files; few file handles open at a time. */
export class FileLatentSource implements LatentSource {
  readonly manifest: LatentCacheManifest;
  readonly length: number;
  private readonly dir: string;
  private readonly starts: Float64Array;
  private readonly per: number;
  private readonly indexes = new Map<number, Promise<ShardIndex>>();
  private readonly handles = new Map<number, Promise<FileHandle>>();
  private readonly maxOpen: number;

  constructor(dir: string, manifest: LatentCacheManifest, maxOpenFiles = 32) {
    this.dir = dir;
    this.manifest = checkLatentManifest(manifest);
    this.length = manifest.count;
    this.starts = shardOffsets(manifest);
    const [h, w, c] = manifest.latentShape;
    this.per = h * w * c;
    this.maxOpen = maxOpenFiles;
  }

  private handle(k: number): Promise<FileHandle> {
    let h = this.handles.get(k);
    if (h) {
      // Most recently used goes last.
      this.handles.delete(k);
      this.handles.set(k, h);
      return h;
    }
    while (this.handles.size >= this.maxOpen) {
      const [oldest, p] = this.handles.entries().next().value as [number, Promise<FileHandle>];
      this.handles.delete(oldest);
      // Reads already issued on it finish first: FileHandle.close waits for pending operations.
      p.then((fh) => fh.close()).catch(() => {});
    }
    const path = join(this.dir, this.manifest.shards[k].file);
    h = open(path, 'r').catch((e) => {
      this.handles.delete(k);
      throw new Error(`latent cache: cannot open ${path} (${(e as Error).message})`);
    });
    this.handles.set(k, h);
    return h;
  }

  private async readAt(k: number, position: number, length: number): Promise<Uint8Array> {
    const fh = await this.handle(k);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0)
        throw new Error(`latent cache: ${this.manifest.shards[k].file} ends early (truncated?)`);
      done += bytesRead;
    }
    return buf;
  }

  private shardIndex(k: number): Promise<ShardIndex> {
    let p = this.indexes.get(k);
    if (!p) {
      p = this.loadIndex(k);
      p.catch(() => this.indexes.delete(k));
      this.indexes.set(k, p);
    }
    return p;
  }

  private async loadIndex(k: number): Promise<ShardIndex> {
    const { file, count } = this.manifest.shards[k];
    const lenBytes = await this.readAt(k, 0, 8);
    const n = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
    if (n > 100_000_000) throw new Error(`latent cache: ${file} has an implausible header length ${n}`);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(new TextDecoder().decode(await this.readAt(k, 8, n)));
    } catch (e) {
      throw new Error(`latent cache: ${file} has a corrupt safetensors header (${(e as Error).message})`);
    }
    const [h, w, c] = this.manifest.latentShape;
    const want = [count, h, w, c].join();
    const offsets: Record<string, number> = {};
    const names = ['mean', 'logvar', ...(this.manifest.flip ? ['mean_flip', 'logvar_flip'] : [])];
    for (const name of names) {
      const e = header[name];
      if (
        e?.dtype !== 'F32' ||
        e.shape?.join() !== want ||
        e.data_offsets?.[1] - e.data_offsets?.[0] !== count * this.per * 4
      ) {
        throw new Error(`latent cache: ${file}:${name} is missing or not F32 [${want}]`);
      }
      offsets[name] = e.data_offsets[0];
    }
    let labels: Int32Array | null = null;
    if (this.manifest.labelled) {
      const e = header.labels;
      if (e?.dtype !== 'I32' || e.shape?.join() !== String(count))
        throw new Error(`latent cache: ${file} needs I32 labels [${count}]`);
      const bytes = await this.readAt(k, 8 + n + e.data_offsets[0], count * 4);
      labels = new Int32Array(bytes.buffer, 0, count);
    }
    return { dataStart: 8 + n, offsets, labels };
  }

  async read(index: number, flip: boolean): Promise<LatentItem> {
    checkRead(this, index, flip);
    const k = findShard(this.starts, index);
    const row = index - this.starts[k];
    const idx = await this.shardIndex(k);
    const [m, lv] = latentTensorNames(flip);
    const bytes = this.per * 4;
    const [mb, lb] = await Promise.all([
      this.readAt(k, idx.dataStart + idx.offsets[m] + row * bytes, bytes),
      this.readAt(k, idx.dataStart + idx.offsets[lv] + row * bytes, bytes),
    ]);
    const item: LatentItem = { mean: new Float32Array(mb.buffer), logvar: new Float32Array(lb.buffer) };
    if (idx.labels) item.label = idx.labels[row];
    return item;
  }

  async close(): Promise<void> {
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map((p) => p.then((fh) => fh.close()).catch(() => {})));
  }
}

/** Options of {@link openLatentCache}. */
export interface OpenLatentCacheOptions {
  /**
   * Load every shard into memory (true), read items from the files on demand (false), or decide by
   * size (default 'auto': in memory below `maxMemoryBytes`).
   */
  inMemory?: boolean | 'auto';
  /** Size limit of 'auto' (default 1 GiB). */
  maxMemoryBytes?: number;
}

/** Open a latent cache folder written by {@link writeLatentCache}. */
export async function openLatentCache(dir: string, opts: OpenLatentCacheOptions = {}): Promise<LatentSource> {
  const manifest = await readLatentManifest(dir);
  const [h, w, c] = manifest.latentShape;
  const bytes = manifest.count * h * w * c * 4 * (manifest.flip ? 4 : 2);
  const mode = opts.inMemory ?? 'auto';
  const inMemory = mode === 'auto' ? bytes <= (opts.maxMemoryBytes ?? 2 ** 30) : mode;
  if (!inMemory) return new FileLatentSource(dir, manifest);
  const shards = await Promise.all(
    manifest.shards.map(async (s) => {
      const path = join(dir, s.file);
      try {
        return await readFile(path);
      } catch (e) {
        throw new Error(`latent cache: cannot read ${path} (${(e as Error).message})`);
      }
    }),
  );
  return new MemoryLatentSource(manifest, shards);
}
