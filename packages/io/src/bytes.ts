/**
 * Bounded byte reading, CRC-32 and typed-array <-> little-endian byte conversion shared by the format
 * readers. Every read checks the bytes are present first, so a truncated or lying file raises a clear
 * error instead of reading `undefined` or allocating what it claims.
 */
import { HOST_DTYPES, type HostData, type HostDType } from './host-tensor.js';

/** An error raised for a malformed, truncated or hostile file. `format` names the file format. */
export class TensorFormatError extends Error {
  constructor(
    readonly format: string,
    message: string,
  ) {
    super(`${format}: ${message}`);
    this.name = 'TensorFormatError';
  }
}

/** Whether this platform stores typed arrays little-endian (all mainstream ones do). */
export const PLATFORM_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A plain `Uint8Array` view of `bytes`. Node's `Buffer` is a Uint8Array whose `slice` returns a view
 * instead of a copy; readers normalise their input so that `slice` means copy everywhere.
 */
export function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Sequential reader over a byte array that refuses to read past its end. */
export class ByteReader {
  pos: number;
  private readonly view: DataView;

  readonly bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly format: string,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.bytes = asPlainBytes(bytes);
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throw unless `n` more bytes are present. */
  need(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) {
      throw new TensorFormatError(
        this.format,
        `truncated or corrupt: ${what} needs ${n} bytes at offset ${this.pos}, only ${this.remaining} left`,
      );
    }
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  /** Read `n` bytes at the position with `get` (a DataView getter) and move past them. */
  private fixed<T>(n: number, what: string, get: (view: DataView, pos: number) => T): T {
    this.need(n, what);
    const v = get(this.view, this.pos);
    this.pos += n;
    return v;
  }

  u16(what = 'uint16'): number {
    return this.fixed(2, what, (d, p) => d.getUint16(p, true));
  }

  u32(what = 'uint32'): number {
    return this.fixed(4, what, (d, p) => d.getUint32(p, true));
  }

  i32(what = 'int32'): number {
    return this.fixed(4, what, (d, p) => d.getInt32(p, true));
  }

  /** Unsigned 64-bit little-endian length; throws when it exceeds 2^53 (no file is that large). */
  u64(what = 'uint64'): number {
    const v = this.fixed(8, what, (d, p) => d.getBigUint64(p, true));
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new TensorFormatError(this.format, `${what} ${v} is impossibly large`);
    return Number(v);
  }

  i64(what = 'int64'): bigint {
    return this.fixed(8, what, (d, p) => d.getBigInt64(p, true));
  }

  f64be(what = 'float64'): number {
    return this.fixed(8, what, (d, p) => d.getFloat64(p, false));
  }

  /** A view (not a copy) of the next `n` bytes. */
  take(n: number, what = 'data'): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Bytes up to (not including) the next `\n`, consumed with it; at most `max` bytes. */
  line(what = 'line', max = 1 << 16): Uint8Array {
    const stop = Math.min(this.end, this.pos + max + 1);
    for (let i = this.pos; i < stop; i++) {
      if (this.bytes[i] === 0x0a) {
        const out = this.bytes.subarray(this.pos, i);
        this.pos = i + 1;
        return out;
      }
    }
    throw new TensorFormatError(
      this.format,
      `truncated or corrupt: ${what} at offset ${this.pos} has no newline`,
    );
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zip and PNG use) of `bytes`, continuing from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Reverse the byte order of every `itemsize`-byte element, in place. */
export function byteSwapInPlace(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i + itemsize <= bytes.length; i += itemsize) {
    for (let a = i, b = i + itemsize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * A new typed array of `dtype` holding the elements encoded in `bytes` (whose length must be a multiple
 * of the item size). The bytes are copied, so the result never aliases (or keeps alive) the file buffer
 * and is correctly aligned.
 */
export function bytesToTyped(dtype: HostDType, bytes: Uint8Array, littleEndian = true): HostData {
  const { itemsize, ctor } = HOST_DTYPES[dtype];
  if (bytes.length % itemsize !== 0)
    throw new RangeError(`bytesToTyped: ${bytes.length} bytes is not a multiple of ${itemsize}`);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (littleEndian !== PLATFORM_LITTLE_ENDIAN) byteSwapInPlace(copy, itemsize);
  return new ctor(copy.buffer, 0, copy.length / itemsize);
}

/**
 * Like {@link bytesToTyped} for a freshly allocated array the caller hands over: the typed array views
 * the same memory (no copy) when the byte order allows and the offset is aligned.
 */
export function adoptBytesAsTyped(dtype: HostDType, bytes: Uint8Array, littleEndian = true): HostData {
  const { itemsize, ctor } = HOST_DTYPES[dtype];
  if (
    littleEndian === PLATFORM_LITTLE_ENDIAN &&
    bytes.byteOffset % itemsize === 0 &&
    bytes.length % itemsize === 0
  ) {
    return new ctor(bytes.buffer, bytes.byteOffset, bytes.length / itemsize);
  }
  return bytesToTyped(dtype, bytes, littleEndian);
}

/** The little-endian bytes of a typed array (a view when the platform is little-endian, else a copy). */
export function typedToBytes(data: HostData): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (PLATFORM_LITTLE_ENDIAN) return view;
  const copy = view.slice();
  byteSwapInPlace(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

/** Concatenate byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decode strict UTF-8 (invalid sequences throw a {@link TensorFormatError} for `format`). */
export function decodeUtf8(bytes: Uint8Array, format: string, what: string): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new TensorFormatError(format, `${what} is not valid UTF-8`);
  }
}

/** Latin-1 decoding (every byte is one code point), as Python's 'latin1' codec. */
export function decodeLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** Latin-1 bytes of a string whose code points are all below 256. */
export function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new RangeError(`latin1: character ${JSON.stringify(s[i])} is outside Latin-1`);
    out[i] = c;
  }
  return out;
}
