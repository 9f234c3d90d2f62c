/**
 * safetensors (https://github.com/huggingface/safetensors) reading and writing.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}` padded with
 * spaces to a multiple of 8, then the data: every tensor's C-ordered little-endian bytes, offsets
 * relative to the end of the header.
 *
 * Limits: dtypes F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL (U16/U32/U64 and the F8 types are
 * refused with a message naming them); the header may be at most 100 MB (as the reference
 * implementation); the whole file is held in memory, so it must fit in one `Uint8Array`.
 */
import {
  asPlainBytes,
  bytesToTyped,
  concatBytes,
  decodeUtf8,
  TensorFormatError,
  typedToBytes,
  utf8,
} from './bytes.js';
import {
  HOST_DTYPES,
  type HostDType,
  type HostTensor,
  type HostTensorDict,
  isHostTensor,
  setEntry,
  shapeSize,
  type TensorFileContents,
  upcastHalf,
} from './host-tensor.js';

const FORMAT = 'safetensors';
const MAX_HEADER = 100_000_000;

/** The safetensors dtype codes this library reads and writes. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const TO_HOST: Record<SafetensorsDType, HostDType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const FROM_HOST = Object.fromEntries(Object.entries(TO_HOST).map(([k, v]) => [v, k])) as Record<
  HostDType,
  SafetensorsDType
>;
// The reference writer orders tensors by descending position in its Dtype enum (i.e. alignment),
// then by name; matching it makes our files byte-identical to Python's `save_file`.
const ENUM_ORDER = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];
const KNOWN_UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3']);

/** The host dtype a safetensors dtype code decodes to. */
export function safetensorsToHostDType(code: SafetensorsDType): HostDType {
  return TO_HOST[code];
}

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** Tensors in data order. */
  entries: [string, SafetensorsEntry][];
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
}

/**
 * Parse and fully validate the header of a safetensors file: the length fits the file, the JSON is an
 * object, every entry has a supported dtype, a valid shape and offsets whose size equals
 * `prod(shape) * itemsize`, and the offsets tile the data section exactly (start at 0, no gap, no
 * overlap, end at the end of the file). Nothing is allocated beyond the header text.
 */
export function parseSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parseSafetensors: bytes must be a Uint8Array, got ${typeof bytes}`);
  bytes = asPlainBytes(bytes);
  const n = safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length);
  return { ...parseSafetensorsHeaderJson(bytes.subarray(8, 8 + n), bytes.length - 8 - n), dataStart: 8 + n };
}

/**
 * The header length N stored in the first 8 bytes of a safetensors file of `fileLength` bytes, checked
 * against the 100 MB limit and the file size. For readers that stream a file instead of holding it.
 */
export function safetensorsHeaderLength(prefix: Uint8Array, fileLength: number): number {
  if (prefix.length < 8 || fileLength < 8)
    throw new TensorFormatError(
      FORMAT,
      `file of ${fileLength} bytes is too short for the 8-byte header length`,
    );
  const n64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER))
    throw new TensorFormatError(FORMAT, `header length ${n64} exceeds the 100 MB limit (corrupt file?)`);
  const n = Number(n64);
  if (8 + n > fileLength) {
    throw new TensorFormatError(
      FORMAT,
      `header length ${n} runs past the end of the ${fileLength}-byte file (truncated?)`,
    );
  }
  return n;
}

/**
 * Validate the JSON header text (the N bytes after the length) of a safetensors file whose data section
 * has `dataLength` bytes; see {@link parseSafetensorsHeader}. `dataStart` is left to the caller.
 */
export function parseSafetensorsHeaderJson(
  json: Uint8Array,
  dataLength: number,
): Omit<SafetensorsHeader, 'dataStart'> {
  const text = decodeUtf8(json, FORMAT, 'header');
  if (!text.startsWith('{')) throw new TensorFormatError(FORMAT, `header does not start with '{'`);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new TensorFormatError(FORMAT, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new TensorFormatError(FORMAT, 'header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: [string, SafetensorsEntry][] = [];
  for (const [name, value] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value))
        throw new TensorFormatError(FORMAT, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw new TensorFormatError(FORMAT, `__metadata__['${k}'] is a ${typeof v}, expected a string`);
        setEntry(metadata, k, v);
      }
      continue;
    }
    entries.push([name, parseEntry(name, value)]);
  }
  entries.sort(
    (a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1],
  );
  let pos = 0;
  for (const [name, e] of entries) {
    const [b, end] = e.dataOffsets;
    if (b !== pos) {
      throw new TensorFormatError(
        FORMAT,
        `tensor '${name}' starts at data offset ${b}, expected ${pos} (${b < pos ? 'overlaps the previous tensor' : 'leaves a gap'})`,
      );
    }
    const want = shapeSize(e.shape) * HOST_DTYPES[TO_HOST[e.dtype]].itemsize;
    if (end - b !== want) {
      throw new TensorFormatError(
        FORMAT,
        `tensor '${name}' (${e.dtype}, shape [${e.shape.join(', ')}]) needs ${want} bytes but its offsets [${b}, ${end}] span ${end - b}`,
      );
    }
    if (end > dataLength) {
      throw new TensorFormatError(
        FORMAT,
        `tensor '${name}' ends at data offset ${end}, past the ${dataLength}-byte data section (truncated?)`,
      );
    }
    pos = end;
  }
  if (pos !== dataLength) {
    throw new TensorFormatError(
      FORMAT,
      `tensors cover ${pos} bytes but the data section has ${dataLength} (trailing bytes or a corrupt header)`,
    );
  }
  return { entries, metadata };
}

function parseEntry(name: string, value: unknown): SafetensorsEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TensorFormatError(FORMAT, `header entry '${name}' is not an object`);
  }
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(TO_HOST, dtype)) {
    const why = typeof dtype === 'string' && KNOWN_UNSUPPORTED.has(dtype) ? 'is not supported' : 'is unknown';
    throw new TensorFormatError(
      FORMAT,
      `tensor '${name}' has dtype ${JSON.stringify(dtype)}, which ${why} (supported: ${Object.keys(TO_HOST).join(', ')})`,
    );
  }
  const shape = v.shape;
  if (
    !Array.isArray(shape) ||
    shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
  ) {
    throw new TensorFormatError(
      FORMAT,
      `tensor '${name}' has an invalid shape ${JSON.stringify(shape)} (expected an array of integers >= 0)`,
    );
  }
  try {
    shapeSize(shape as number[]);
  } catch {
    throw new TensorFormatError(
      FORMAT,
      `tensor '${name}' has an impossibly large shape [${shape.join(', ')}]`,
    );
  }
  const off = v.data_offsets;
  if (
    !Array.isArray(off) ||
    off.length !== 2 ||
    off.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) ||
    (off[1] as number) < (off[0] as number)
  ) {
    throw new TensorFormatError(
      FORMAT,
      `tensor '${name}' has invalid data_offsets ${JSON.stringify(off)} (expected [begin, end], 0 <= begin <= end)`,
    );
  }
  return { dtype: dtype as SafetensorsDType, shape: shape as number[], dataOffsets: [off[0], off[1]] };
}

/** Options of {@link parseSafetensors}. */
export interface SafetensorsReadOptions {
  /** Decode F16 / BF16 tensors to float32 (default true); false keeps their raw bits. */
  upcastHalf?: boolean;
}

/**
 * Read a safetensors file held in memory. The header is validated in full (see
 * {@link parseSafetensorsHeader}) before any tensor is decoded; tensor data is copied out of `bytes`.
 * @returns the tensors in file order and the `__metadata__` strings.
 */
export function parseSafetensors(bytes: Uint8Array, opts: SafetensorsReadOptions = {}): TensorFileContents {
  bytes = asPlainBytes(bytes);
  const header = parseSafetensorsHeader(bytes);
  const upcast = opts.upcastHalf ?? true;
  const tensors: HostTensorDict = {};
  for (const [name, e] of header.entries) {
    const dtype = TO_HOST[e.dtype];
    const raw = bytes.subarray(header.dataStart + e.dataOffsets[0], header.dataStart + e.dataOffsets[1]);
    const t = { dtype, shape: e.shape.slice(), data: bytesToTyped(dtype, raw) };
    setEntry(tensors, name, upcast ? upcastHalf(t) : t);
  }
  return { tensors, metadata: header.metadata };
}

/**
 * The header of a safetensors file for `tensors` (8-byte length + padded JSON) and the order in which
 * their data must follow, as the reference Python writer lays it out: tensors ordered by descending dtype
 * alignment then name, compact JSON padded with spaces to a multiple of 8, `__metadata__` first (keys
 * sorted) and omitted when empty. Lets callers stream the data instead of concatenating it.
 */
export function safetensorsHeader(
  tensors: HostTensorDict,
  metadata: Record<string, string> = {},
): { header: Uint8Array; order: [string, HostTensor][] } {
  if (typeof tensors !== 'object' || tensors === null)
    throw new TypeError('serializeSafetensors: tensors must be a record of host tensors');
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__')
      throw new RangeError(`serializeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    if (!isHostTensor(t))
      throw new TypeError(
        `serializeSafetensors: tensors['${name}'] is not a host tensor ({dtype, shape, data})`,
      );
    const n = shapeSize(t.shape, `serializeSafetensors: tensors['${name}']`);
    if (t.data.length !== n)
      throw new RangeError(
        `serializeSafetensors: tensors['${name}'] has ${t.data.length} elements for shape [${t.shape.join(', ')}]`,
      );
    return { name, t, code: FROM_HOST[t.dtype], key: utf8(name) };
  });
  items.sort((a, b) => ENUM_ORDER.indexOf(b.code) - ENUM_ORDER.indexOf(a.code) || compareBytes(a.key, b.key));
  const header: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata).sort();
  if (metaKeys.length) {
    const m: Record<string, string> = {};
    for (const k of metaKeys) {
      const v = metadata[k];
      if (typeof v !== 'string')
        throw new TypeError(`serializeSafetensors: metadata['${k}'] must be a string, got ${typeof v}`);
      setEntry(m, k, v);
    }
    header.__metadata__ = m;
  }
  let offset = 0;
  for (const { name, t, code } of items) {
    const size = t.data.byteLength;
    setEntry(header, name, { dtype: code, shape: t.shape, data_offsets: [offset, offset + size] });
    offset += size;
  }
  const json = utf8(JSON.stringify(header));
  const out = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(out.length - 8), true);
  out.set(json, 8);
  return { header: out, order: items.map(({ name, t }) => [name, t]) };
}

/**
 * Write tensors (and optional string metadata) as a safetensors file, byte-identical to the reference
 * Python writer (see {@link safetensorsHeader}).
 */
export function serializeSafetensors(
  tensors: HostTensorDict,
  metadata: Record<string, string> = {},
): Uint8Array {
  const { header, order } = safetensorsHeader(tensors, metadata);
  return concatBytes([header, ...order.map(([, t]) => typedToBytes(t.data))]);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
