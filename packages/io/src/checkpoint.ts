/**
 * The checkpoint file codec (browser-safe; `node.ts` adds streamed, atomic file IO on top).
 *
 * A checkpoint is one safetensors file: the tensors (model weights, optimizer moments, ...) plus string
 * metadata (step, RNG state, config JSON, ... as the trainer chooses) in `__metadata__`, plus a CRC-32
 * under {@link CHECKPOINT_CRC_KEY}. The CRC covers the whole file with its own eight hex digits read as
 * '0', so a bit flip anywhere (header, metadata or data) or a truncation is detected, and decoding
 * validates everything before the first tensor is created: a bad file never half-loads a model.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { concatBytes, crc32, TensorFormatError, typedToBytes, utf8 } from './bytes.js';
import { type HostTensorDict, setEntry } from './host-tensor.js';
import { parseSafetensors, safetensorsHeader } from './safetensors.js';
import { fromTfTensors, toTfTensors } from './tf-convert.js';

/**
 * Named tensors and string metadata of one checkpoint (exactly what the file holds). Tensor names and
 * metadata keys are the writer's choice; `@ldmae/core`'s train loop documents the ones it writes.
 */
export interface CheckpointPayload {
  tensors: Record<string, tf.Tensor>;
  metadata: Record<string, string>;
}

/** Metadata key holding the checkpoint's CRC-32 (8 lower-case hex digits). */
export const CHECKPOINT_CRC_KEY = 'ldmae.io.crc32';

const PLACEHOLDER = utf8('00000000');
const NEEDLE = utf8(`"${CHECKPOINT_CRC_KEY}":"`);

/** Offset of the CRC's 8 hex digits inside a header region (8-byte length + JSON), or -1. */
function crcSlot(headerRegion: Uint8Array): number {
  outer: for (let i = 8; i + NEEDLE.length + 8 <= headerRegion.length; i++) {
    for (let j = 0; j < NEEDLE.length; j++) if (headerRegion[i + j] !== NEEDLE[j]) continue outer;
    return i + NEEDLE.length;
  }
  return -1;
}

/**
 * The running checkpoint CRC after the header region (8-byte length + JSON header) with its CRC digits
 * read as '0'; continue it over the data section with `crc32(chunk, c)`. `undefined` when the header
 * has no CRC entry. For readers that stream a file.
 */
export function checkpointHeaderCrc(headerRegion: Uint8Array): number | undefined {
  const slot = crcSlot(headerRegion);
  if (slot < 0) return undefined;
  const c = crc32(PLACEHOLDER, crc32(headerRegion.subarray(0, slot)));
  return crc32(headerRegion.subarray(slot + 8), c);
}

/**
 * Check the stored CRC in `metadata` against `computed` (from {@link checkpointHeaderCrc} continued over
 * the data) and return the metadata without the CRC key. Throws a TensorFormatError on a mismatch, or
 * when the CRC is missing and `requireChecksum` (default true).
 */
export function verifyCheckpointCrc(
  metadata: Record<string, string>,
  computed: number | undefined,
  opts: CheckpointReadOptions = {},
): Record<string, string> {
  const stored = metadata[CHECKPOINT_CRC_KEY];
  if (stored === undefined) {
    if (opts.requireChecksum ?? true) {
      throw new TensorFormatError(
        'checkpoint',
        `no '${CHECKPOINT_CRC_KEY}' checksum (not an LDMAE checkpoint, or a corrupt header)`,
      );
    }
  } else if (
    !/^[0-9a-f]{8}$/.test(stored) ||
    computed === undefined ||
    Number.parseInt(stored, 16) !== computed
  ) {
    const got = computed === undefined ? 'none' : computed.toString(16).padStart(8, '0');
    throw new TensorFormatError(
      'checkpoint',
      `CRC-32 mismatch (stored ${stored}, computed ${got}): the file is corrupt`,
    );
  }
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (k !== CHECKPOINT_CRC_KEY) setEntry(meta, k, v);
  return meta;
}

function checkMetadata(metadata: Record<string, string>): void {
  if (typeof metadata !== 'object' || metadata === null)
    throw new TypeError('checkpoint: metadata must be a record of strings');
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw new TypeError(
        `checkpoint: metadata['${k}'] must be a string (JSON.stringify objects), got ${typeof v}`,
      );
    if (k === CHECKPOINT_CRC_KEY)
      throw new RangeError(`checkpoint: metadata key '${CHECKPOINT_CRC_KEY}' is reserved`);
  }
}

/**
 * The bytes of a checkpoint file as consecutive chunks (header, then each tensor's data), with the CRC
 * filled in. Writing the chunks in order gives the file without ever concatenating it, so checkpoints
 * larger than the biggest single array (4 GiB in Node 20) can be saved.
 */
export function checkpointChunks(tensors: HostTensorDict, metadata: Record<string, string>): Uint8Array[] {
  checkMetadata(metadata);
  const { header, order } = safetensorsHeader(tensors, { ...metadata, [CHECKPOINT_CRC_KEY]: '00000000' });
  const data = order.map(([, t]) => typedToBytes(t.data));
  const slot = crcSlot(header);
  let c = crc32(header);
  for (const d of data) c = crc32(d, c);
  header.set(utf8(c.toString(16).padStart(8, '0')), slot);
  return [header, ...data];
}

/** Encode host tensors and metadata as checkpoint bytes (safetensors with the CRC filled in). */
export function encodeCheckpointHost(tensors: HostTensorDict, metadata: Record<string, string>): Uint8Array {
  return concatBytes(checkpointChunks(tensors, metadata));
}

function checkPayload(payload: CheckpointPayload): void {
  if (
    typeof payload !== 'object' ||
    payload === null ||
    typeof payload.tensors !== 'object' ||
    payload.tensors === null
  ) {
    throw new TypeError(
      'encodeCheckpoint: payload must be { tensors: Record<string, tf.Tensor>, metadata: Record<string, string> }',
    );
  }
  checkMetadata(payload.metadata ?? {});
}

/** {@link checkpointChunks} of a payload of tf tensors (downloaded asynchronously; they stay the caller's). */
export async function encodeCheckpointChunks(payload: CheckpointPayload): Promise<Uint8Array[]> {
  checkPayload(payload);
  return checkpointChunks(await fromTfTensors(payload.tensors), payload.metadata ?? {});
}

/** Encode a checkpoint into one byte array (e.g. for a browser download). The payload's tensors stay the caller's. */
export async function encodeCheckpoint(payload: CheckpointPayload): Promise<Uint8Array> {
  return concatBytes(await encodeCheckpointChunks(payload));
}

/** Options of {@link decodeCheckpoint}. */
export interface CheckpointReadOptions {
  /** Refuse files without a checksum (default true; false accepts any safetensors file). */
  requireChecksum?: boolean;
}

/**
 * Validate checkpoint bytes completely (safetensors structure, CRC-32) and return host tensors and
 * metadata (without the CRC key). Throws a {@link TensorFormatError} on any defect.
 */
export function decodeCheckpointHost(
  bytes: Uint8Array,
  opts: CheckpointReadOptions = {},
): { tensors: HostTensorDict; metadata: Record<string, string> } {
  const { tensors, metadata } = parseSafetensors(bytes);
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const head = checkpointHeaderCrc(bytes.subarray(0, headerEnd));
  const computed = head === undefined ? undefined : crc32(bytes.subarray(headerEnd), head);
  return { tensors, metadata: verifyCheckpointCrc(metadata, computed, opts) };
}

/**
 * Decode checkpoint bytes into tf tensors the caller owns. Everything is validated (see
 * {@link decodeCheckpointHost}) and converted (int64 range checks) before the first tensor is created.
 */
export function decodeCheckpoint(bytes: Uint8Array, opts: CheckpointReadOptions = {}): CheckpointPayload {
  const { tensors, metadata } = decodeCheckpointHost(bytes, opts);
  return { tensors: toTfTensors(tensors), metadata };
}

/** `format` of a checkpoint folder's `meta.json`. */
export const CHECKPOINT_META_FORMAT = 'ldmae-checkpoint';

/** The validated content of a checkpoint folder's `meta.json` (see {@link parseCheckpointMeta}). */
export interface CheckpointMeta {
  /** Name of the weights file inside the folder (no slashes): `model-<generation>.safetensors`. */
  weights: string;
  /** Counts the saves into the folder (0 for folders written before generations were recorded). */
  generation: number;
  /** Size of the weights file in bytes. */
  bytes: number;
  /** CRC-32 of the whole weights file, 8 lower-case hex digits. */
  crc32: string;
  /** A copy of the checkpoint's metadata, for reading without opening the weights (`{}` when absent). */
  metadata: Record<string, string>;
}

const textDecoder = new TextDecoder();
const hex8 = (c: number) => (c >>> 0).toString(16).padStart(8, '0');

/**
 * Parse and validate a checkpoint folder's `meta.json` (as bytes or text): `format` must be
 * `'ldmae-checkpoint'`, `version` 1 (when given), `weights` a file name without slashes, `generation`
 * (when given) a non-negative integer, `bytes` a
 * non-negative integer, `crc32` 8 lower-case hex digits and `metadata` (when given) a record of strings.
 * `where` names the file in errors (its path, default `'meta.json'`). Throws a {@link TensorFormatError}
 * saying what was expected. Used by the Node loader and {@link decodeCheckpointFolder} alike.
 */
export function parseCheckpointMeta(json: Uint8Array | string, where = 'meta.json'): CheckpointMeta {
  if (typeof json !== 'string' && !(json instanceof Uint8Array))
    throw new TypeError(
      `parseCheckpointMeta: json must be a string or a Uint8Array (the bytes of '${where}')`,
    );
  let m: unknown;
  try {
    m = JSON.parse(typeof json === 'string' ? json : textDecoder.decode(json));
  } catch (e) {
    throw new TensorFormatError('checkpoint', `'${where}' is not valid JSON (${(e as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new TensorFormatError('checkpoint', `'${where}' is not an LDMAE checkpoint description: ${what}`);
  };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad('expected a JSON object');
  const r = m as Record<string, unknown>;
  if (r.format !== CHECKPOINT_META_FORMAT)
    bad(`expected format '${CHECKPOINT_META_FORMAT}', got ${JSON.stringify(r.format) ?? 'none'}`);
  if (r.version !== undefined && r.version !== 1)
    bad(`version ${JSON.stringify(r.version)} is not supported (expected 1)`);
  const weights = r.weights;
  if (typeof weights !== 'string' || !weights || /[/\\]/.test(weights) || weights === '.' || weights === '..')
    bad(
      `expected 'weights' to be a file name in the folder (no slashes), got ${JSON.stringify(weights) ?? 'none'}`,
    );
  if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 0)
    bad(`expected 'bytes' to be a non-negative integer, got ${JSON.stringify(r.bytes) ?? 'none'}`);
  const generation = r.generation ?? 0;
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)
    bad(`expected 'generation' to be a non-negative integer, got ${JSON.stringify(r.generation)}`);
  if (typeof r.crc32 !== 'string' || !/^[0-9a-f]{8}$/.test(r.crc32))
    bad(`expected 'crc32' to be 8 lower-case hex digits, got ${JSON.stringify(r.crc32) ?? 'none'}`);
  const metadata: Record<string, string> = {};
  if (r.metadata !== undefined) {
    if (typeof r.metadata !== 'object' || r.metadata === null || Array.isArray(r.metadata))
      bad(`expected 'metadata' to be an object of strings`);
    for (const [k, v] of Object.entries(r.metadata as object)) {
      if (typeof v !== 'string') bad(`expected metadata['${k}'] to be a string, got ${typeof v}`);
      setEntry(metadata, k, v as string);
    }
  }
  return {
    weights: weights as string,
    generation: generation as number,
    bytes: r.bytes as number,
    crc32: r.crc32 as string,
    metadata,
  };
}

/**
 * Check a weights file's size and whole-file CRC-32 (`crc`, e.g. from `crc32(bytes)` or accumulated while
 * streaming) against its parsed `meta.json`. `weightsWhere` and `metaWhere` name the two files in the
 * error, a {@link TensorFormatError}: a mismatch means a corrupt weights file, or the weights of one save
 * beside the meta.json of another (an interrupted save).
 */
export function verifyCheckpointWeights(
  meta: CheckpointMeta,
  size: number,
  crc: number,
  weightsWhere: string = meta.weights,
  metaWhere = 'meta.json',
): void {
  if (size !== meta.bytes || hex8(crc) !== meta.crc32) {
    throw new TensorFormatError(
      'checkpoint',
      `'${weightsWhere}' (${size} bytes, crc ${hex8(crc)}) does not match meta.json ('${metaWhere}': ${meta.bytes} bytes, crc ${meta.crc32}): corrupt or from an interrupted save`,
    );
  }
}

/** The two files of a checkpoint folder, as bytes, for {@link decodeCheckpointFolder}. */
export interface CheckpointFolderFiles {
  /** The folder's `meta.json`, as bytes or text. */
  meta: Uint8Array | string;
  /** The weights file `meta.json` names (`model-<generation>.safetensors`). */
  weights: Uint8Array;
  /** Path or name of `meta.json` for error messages (default `'meta.json'`). */
  metaPath?: string;
  /** Path or name of the weights file for error messages (default: the name in `meta.json`). */
  weightsPath?: string;
}

/**
 * {@link decodeCheckpointFolder} without tfjs: validate a checkpoint folder's `meta.json`
 * ({@link parseCheckpointMeta}), the weights' size and CRC-32 against it
 * ({@link verifyCheckpointWeights}), then the weights themselves ({@link decodeCheckpointHost}), and
 * return host tensors and metadata. Every defect is a {@link TensorFormatError} naming the file.
 */
export function decodeCheckpointFolderHost(
  files: CheckpointFolderFiles,
  opts: CheckpointReadOptions = {},
): { tensors: HostTensorDict; metadata: Record<string, string> } {
  if (typeof files !== 'object' || files === null || !(files.weights instanceof Uint8Array))
    throw new TypeError(
      'decodeCheckpointFolder: files must be { meta: Uint8Array | string, weights: Uint8Array } (the bytes of meta.json and model.safetensors)',
    );
  const metaWhere = files.metaPath ?? 'meta.json';
  const meta = parseCheckpointMeta(files.meta, metaWhere);
  const weightsWhere = files.weightsPath ?? meta.weights;
  verifyCheckpointWeights(meta, files.weights.length, crc32(files.weights), weightsWhere, metaWhere);
  try {
    return decodeCheckpointHost(files.weights, opts);
  } catch (e) {
    if (!(e instanceof TensorFormatError)) throw e;
    const prefix = `${e.format}: `;
    const rest = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    throw new TensorFormatError(e.format, `'${weightsWhere}': ${rest}`);
  }
}

/**
 * Decode a checkpoint folder saved by `saveCheckpoint` (Node) from the bytes of its two files, e.g.
 * picked or fetched in a browser: the browser counterpart of `loadCheckpoint(folder)`, with the same
 * checks (see {@link decodeCheckpointFolderHost}). Everything is validated before the first tensor is
 * created; the caller owns the returned tensors.
 */
export function decodeCheckpointFolder(
  files: CheckpointFolderFiles,
  opts: CheckpointReadOptions = {},
): CheckpointPayload {
  const { tensors, metadata } = decodeCheckpointFolderHost(files, opts);
  return { tensors: toTfTensors(tensors), metadata };
}
