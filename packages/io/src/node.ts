/**
 * File-system IO for Node: tensor files by extension, format conversion, and atomic checkpoints.
 *
 * Checkpoints are saved either as one `.safetensors` file (when the path ends in `.safetensors`) or as a
 * folder holding `model-<generation>.safetensors` and `meta.json`. Every file is written to a temporary
 * file in the same directory, fsynced and renamed over the target, so a crash leaves either the old or
 * the new file, never a torn one. In a folder, `meta.json` names the weights file and records its size
 * and CRC: replacing it is the single step that commits a save (see {@link saveCheckpoint}).
 *
 * Size limits: safetensors files (and so checkpoints) are streamed tensor by tensor, so only each single
 * tensor must fit in one array (4 GiB in Node 20); `.pth`, `.npz` and `.npy` files are read whole and
 * must be below 4 GiB.
 */

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { adoptBytesAsTyped, concatBytes, crc32, TensorFormatError } from './bytes.js';
import {
  type CheckpointPayload,
  type CheckpointReadOptions,
  checkpointHeaderCrc,
  encodeCheckpointChunks,
  parseCheckpointMeta,
  verifyCheckpointCrc,
  verifyCheckpointWeights,
} from './checkpoint.js';
import { FileOperationError, fsStep, removeStaleTempFiles, writeFileAtomic } from './fs-safe.js';
import { type HostTensorDict, setEntry, type TensorFileContents, upcastHalf } from './host-tensor.js';
import {
  parseSafetensorsHeaderJson,
  type SafetensorsReadOptions,
  safetensorsHeaderLength,
  safetensorsToHostDType,
} from './safetensors.js';
import {
  convertTensorFile,
  formatFromPath,
  parseTensorFile,
  serializeTensorFile,
  type TensorFileFormat,
  type TensorReadOptions,
  type TensorWriteOptions,
} from './tensor-file.js';
import { toTfTensors } from './tf-convert.js';

export { FileOperationError, fsStep, removeStaleTempFiles, writeFileAtomic };

const CHUNK = 1 << 30;
const MAX_ARRAY = 2 ** 32;

async function readExactly(
  fh: FileHandle,
  position: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  if (length >= MAX_ARRAY) {
    throw new RangeError(`'${path}': a single read of ${length} bytes exceeds the 4 GiB array limit`);
  }
  const buf = new Uint8Array(length);
  for (let off = 0; off < length; ) {
    const { bytesRead } = await fh.read(buf, off, Math.min(CHUNK, length - off), position + off);
    if (bytesRead === 0)
      throw new TensorFormatError('file', `'${path}' ended early (changed while being read?)`);
    off += bytesRead;
  }
  return buf;
}

/** Read a whole file into one array in 1 GiB pieces (Node's readFile stops at 2 GiB; arrays at 4 GiB). */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    return await readExactly(fh, 0, size, path);
  } finally {
    await fh.close();
  }
}

interface StreamedSafetensors extends TensorFileContents {
  /** CRC-32 of the whole file. */
  fileCrc: number;
  /** The checkpoint CRC (digits read as '0'), when the header has one. */
  checkpointCrc: number | undefined;
  size: number;
}

/**
 * Read a safetensors file tensor by tensor: the header is validated completely first, then each tensor's
 * bytes are read into their own array, so files far larger than one array can be loaded.
 */
async function readSafetensorsStreamed(
  path: string,
  opts: SafetensorsReadOptions = {},
): Promise<StreamedSafetensors> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const prefix = await readExactly(fh, 0, Math.min(8, size), path);
    const n = safetensorsHeaderLength(prefix, size);
    const json = await readExactly(fh, 8, n, path);
    const { entries, metadata } = parseSafetensorsHeaderJson(json, size - 8 - n);
    const head = concatBytes([prefix, json]);
    let fileCrc = crc32(head);
    let checkpointCrc = checkpointHeaderCrc(head);
    const tensors: HostTensorDict = {};
    let pos = 8 + n;
    for (const [name, e] of entries) {
      const raw = await readExactly(fh, pos, e.dataOffsets[1] - e.dataOffsets[0], path);
      pos += raw.length;
      fileCrc = crc32(raw, fileCrc);
      if (checkpointCrc !== undefined) checkpointCrc = crc32(raw, checkpointCrc);
      const dtype = safetensorsToHostDType(e.dtype);
      const t = { dtype, shape: e.shape.slice(), data: adoptBytesAsTyped(dtype, raw) };
      setEntry(tensors, name, (opts.upcastHalf ?? true) ? upcastHalf(t) : t);
    }
    return { tensors, metadata, fileCrc, checkpointCrc, size };
  } finally {
    await fh.close();
  }
}

/** Read a tensor file, choosing the format by extension (see {@link formatFromPath}). */
export async function readTensorFile(
  path: string,
  opts: TensorReadOptions = {},
): Promise<TensorFileContents> {
  const format = formatFromPath(path);
  if (format === 'safetensors' && opts.select === undefined) {
    const { tensors, metadata } = await readSafetensorsStreamed(path, opts);
    return { tensors, metadata };
  }
  return parseTensorFile(await readFileBytes(path), format, opts);
}

/** Write tensors (and safetensors metadata) to `path` in the format of its extension, atomically. */
export async function writeTensorFile(
  path: string,
  contents: TensorFileContents | HostTensorDict,
  opts: TensorWriteOptions = {},
): Promise<void> {
  const format = formatFromPath(path);
  await writeFileAtomic(path, serializeTensorFile(contents, format, opts));
}

/** Read a tensor file straight into tf tensors the caller owns (every tensor checked before the first upload). */
export async function readTensorFileToTf(
  path: string,
  opts: TensorReadOptions = {},
): Promise<Record<string, tf.Tensor>> {
  return toTfTensors((await readTensorFile(path, opts)).tensors);
}

/**
 * Convert a tensor file to another format, chosen by the two paths' extensions (what `ldmae convert IN
 * OUT` runs). The input format is taken from the extension, or sniffed from the content when
 * `opts.inFormat` is 'auto'. Half-precision tensors stay half where the target allows.
 * @returns the number of tensors and bytes written.
 */
export async function convertFile(
  inPath: string,
  outPath: string,
  opts: TensorReadOptions & TensorWriteOptions & { inFormat?: TensorFileFormat | 'auto' } = {},
): Promise<{ tensors: number; bytes: number }> {
  const inFormat = opts.inFormat === 'auto' ? undefined : (opts.inFormat ?? formatFromPath(inPath));
  const outFormat = formatFromPath(outPath);
  const bytes = convertTensorFile(await readFileBytes(inPath), inFormat, outFormat, opts);
  await writeFileAtomic(outPath, bytes);
  const count = Object.keys(parseTensorFile(bytes, outFormat, { upcastHalf: false }).tensors).length;
  return { tensors: count, bytes: bytes.length };
}

const META = 'meta.json';
/** Weights files of a checkpoint folder: `model.safetensors` (older saves) or `model-<generation>.safetensors`. */
const WEIGHTS_RE = /^model(?:-(\d+))?\.safetensors$/;

const hex = (c: number) => c.toString(16).padStart(8, '0');

/** The generation and weights file the folder's meta.json points at, or null (none, or unreadable). */
async function currentMeta(dir: string): Promise<{ generation: number; weights: string } | null> {
  try {
    const meta = parseCheckpointMeta(await readFile(join(dir, META)), join(dir, META));
    return { generation: meta.generation, weights: meta.weights };
  } catch {
    return null;
  }
}

/**
 * Save a checkpoint atomically: to `path` itself when it ends in `.safetensors`, otherwise into the
 * folder `path` (created if needed). The file is streamed from the tensors' data, never concatenated.
 * The payload's tensors stay the caller's.
 *
 * A folder save commits in one step: the weights go to a new file `model-<generation>.safetensors`
 * (written, fsynced, renamed into place), then `meta.json`, which names the weights file and records
 * its size and CRC-32, is replaced atomically; only then is the previous weights file removed. A kill,
 * crash or full disk at any point leaves the folder loading either the previous checkpoint or the new
 * one. Temporary files of earlier killed saves, and weights files no `meta.json` points at, are removed
 * first. A failure is a {@link FileOperationError} naming the file and what was being done.
 */
export async function saveCheckpoint(path: string, payload: CheckpointPayload): Promise<void> {
  if (typeof path !== 'string' || !path)
    throw new TypeError('saveCheckpoint: path must be a non-empty string');
  const chunks = await encodeCheckpointChunks(payload);
  if (/\.safetensors$/i.test(path)) {
    await writeFileAtomic(path, chunks, 'checkpoint');
    return;
  }
  await fsStep('create the checkpoint folder', path, () => mkdir(path, { recursive: true }));
  await removeStaleTempFiles(path);
  const current = await currentMeta(path);
  // Files a killed save left behind (written, never committed) are not the current checkpoint.
  let generation = current?.generation ?? 0;
  for (const name of await readdir(path)) {
    const m = WEIGHTS_RE.exec(name);
    if (!m) continue;
    generation = Math.max(generation, Number(m[1] ?? 0));
    if (current && name !== current.weights) await removeFile(join(path, name));
  }
  generation++;
  const weights = `model-${generation}.safetensors`;
  await writeFileAtomic(join(path, weights), chunks, 'checkpoint weights');
  let c = 0;
  let bytes = 0;
  for (const chunk of chunks) {
    c = crc32(chunk, c);
    bytes += chunk.length;
  }
  const meta = {
    format: 'ldmae-checkpoint',
    version: 1,
    generation,
    weights,
    bytes,
    crc32: hex(c),
    metadata: payload.metadata ?? {},
  };
  // The commit: from here on the folder holds the new checkpoint.
  await writeFileAtomic(
    join(path, META),
    new TextEncoder().encode(`${JSON.stringify(meta, null, 2)}\n`),
    'checkpoint meta.json',
  );
  if (current && current.weights !== weights) await removeFile(join(path, current.weights));
}

/** Remove a file no checkpoint refers to any more; a failure only leaves it for the next save to remove. */
async function removeFile(path: string): Promise<void> {
  await fsStep('remove the old checkpoint weights', path, () => unlink(path)).catch(() => {});
}

async function readCheckpointFile(
  path: string,
  opts: CheckpointReadOptions,
): Promise<{ tensors: HostTensorDict; metadata: Record<string, string> }> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(
      `loadCheckpoint: '${path}' does not exist (expected a .safetensors file or a checkpoint folder)`,
    );
  }
  if (!isDir) {
    const r = await readSafetensorsStreamed(path);
    return { tensors: r.tensors, metadata: verifyCheckpointCrc(r.metadata, r.checkpointCrc, opts) };
  }
  const metaPath = join(path, META);
  let json: Uint8Array;
  try {
    json = await readFile(metaPath);
  } catch (e) {
    throw new TensorFormatError(
      'checkpoint',
      `'${metaPath}' is missing or unreadable (${(e as Error).message}): expected the folder's meta.json`,
    );
  }
  const meta = parseCheckpointMeta(json, metaPath);
  const file = join(path, meta.weights);
  const r = await readSafetensorsStreamed(file);
  verifyCheckpointWeights(meta, r.size, r.fileCrc, file, metaPath);
  return { tensors: r.tensors, metadata: verifyCheckpointCrc(r.metadata, r.checkpointCrc, opts) };
}

/**
 * Load a checkpoint saved by {@link saveCheckpoint} (file or folder). The file is validated completely
 * (structure, checksum, dtype ranges) before any tensor is created, so callers can load the result into
 * a model knowing it is whole. The caller owns the returned tensors.
 */
export async function loadCheckpoint(
  path: string,
  opts: CheckpointReadOptions = {},
): Promise<CheckpointPayload> {
  const { tensors, metadata } = await readCheckpointFile(path, opts);
  return { tensors: toTfTensors(tensors), metadata };
}

/** {@link loadCheckpoint} without tfjs: host tensors and metadata. */
export async function loadCheckpointHost(
  path: string,
  opts: CheckpointReadOptions = {},
): Promise<{ tensors: HostTensorDict; metadata: Record<string, string> }> {
  return readCheckpointFile(path, opts);
}
