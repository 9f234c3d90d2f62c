/**
 * The checkpoint file codec (browser-safe; `node.ts` adds streamed, atomic file IO on top).
 *
 * A checkpoint is one safetensors file: the tensors (model weights, optimizer moments, ...) plus string
 * metadata (step, RNG state, config JSON, ... as the trainer chooses) in `__metadata__`, plus a CRC-32
 * under {@link CHECKPOINT_CRC_KEY}. The CRC covers the whole file with its own eight hex digits read as
 * '0', so a bit flip anywhere (header, metadata or data) or a truncation is detected, and decoding
 * validates everything before the first tensor is created: a bad file never half-loads a model.
 */
import type { CheckpointPayload } from '../train/checkpoint-payload.js';
import { concatBytes, crc32, TensorFormatError, typedToBytes, utf8 } from './bytes.js';
import { type HostTensorDict, setEntry } from './host-tensor.js';
import { parseSafetensors, safetensorsHeader } from './safetensors.js';
import { fromTfTensors, toTfTensors } from './tf-convert.js';

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
