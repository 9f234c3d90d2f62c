/**
 * What is checked in PNG / JPEG bytes before anything is decoded: the image's size from its header
 * (PNG IHDR, JPEG SOF) against a pixel limit, and a PNG's pixel data against the size its header
 * implies. Shared by the Node codecs and the browser codecs, so both refuse with the same words.
 */
import { unzlibSync } from 'fflate';
import { DataError } from '../dataset.js';

/** The default decode limit: 8192 x 8192 = 67,108,864 pixels (67.1 megapixels). */
export const DEFAULT_MAX_PIXELS: number = 8192 * 8192;

/** Options of the image decoders ({@link decodeImageBrowser}, and in Node `decodeImage`, `readImage`, `imageFolder`). */
export interface ImageDecodeOptions {
  /**
   * Refuse images with more pixels (width x height) than this, from their header, before anything is
   * allocated (default {@link DEFAULT_MAX_PIXELS}, 8192 x 8192). `Infinity` turns the check off.
   */
  maxPixels?: number;
}

/** An image's size and layout as its header states them (nothing decoded). */
export interface ImageHeader {
  /** 'png' or 'jpeg'. */
  format: 'png' | 'jpeg';
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel as stored: PNG 1 (grey or palette), 2 (grey + alpha), 3 (RGB), 4 (RGBA); JPEG components. */
  channels: number;
  /** Bits per sample (PNG 1, 2, 4, 8 or 16; JPEG precision, usually 8). */
  bitDepth: number;
  /** PNG only: Adam7 interlaced. */
  interlaced: boolean;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

function u32be(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function isPng(b: Uint8Array): boolean {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return b.length >= 8 && sig.every((v, i) => b[i] === v);
}

/**
 * The size and layout a PNG or JPEG file's header states, read without decoding anything; null when the
 * bytes are neither, or the header is missing or malformed (the decoder then reports the problem).
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader | null {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('readImageHeader: bytes must be a Uint8Array');
  if (isPng(bytes)) return pngHeader(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff)
    return jpegHeader(bytes);
  return null;
}

function pngHeader(b: Uint8Array): ImageHeader | null {
  // The IHDR chunk comes first: length 13, then width, height, bit depth, colour type, compression,
  // filter and interlace method.
  if (b.length < 8 + 8 + 13 || u32be(b, 8) !== 13) return null;
  if (String.fromCharCode(b[12], b[13], b[14], b[15]) !== 'IHDR') return null;
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  const bitDepth = b[24];
  const colorType = b[25];
  const channels = PNG_CHANNELS[colorType];
  if (!channels || !PNG_DEPTHS[colorType].includes(bitDepth)) return null;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) return null;
  if (b[26] !== 0 || b[27] !== 0 || b[28] > 1) return null;
  return { format: 'png', width, height, channels, bitDepth, interlaced: b[28] === 1 };
}

function jpegHeader(b: Uint8Array): ImageHeader | null {
  let i = 2;
  while (i + 1 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    // Fill bytes, and markers without a length (TEM, RSTn, SOI).
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda || i + 3 >= b.length) return null; // EOI or scan before a frame
    const len = (b[i + 2] << 8) | b[i + 3];
    if (len < 2) return null;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (len < 8 || i + 9 >= b.length) return null;
      const height = (b[i + 5] << 8) | b[i + 6];
      const width = (b[i + 7] << 8) | b[i + 8];
      return { format: 'jpeg', width, height, channels: b[i + 9], bitDepth: b[i + 4], interlaced: false };
    }
    i += 2 + len;
  }
  return null;
}

/**
 * {@link readImageHeader}, refusing a PNG without a valid IHDR (its size could not be checked) naming
 * the file; null for other bytes without a readable header (a JPEG without a frame header before its
 * scan is left to the decoder, whose own resolution limit is set to the same value).
 * @throws DataError
 */
export function headerToCheck(bytes: Uint8Array, name: string, fn: string): ImageHeader | null {
  const header = readImageHeader(bytes);
  if (!header && isPng(bytes))
    throw new DataError(`${fn}: ${name} is a corrupt or unsupported PNG (no valid IHDR header)`, {
      file: name,
    });
  return header;
}

function megapixels(n: number): string {
  return n >= 1e5 ? `${(n / 1e6).toFixed(1)} megapixels` : `${n} pixels`;
}

function describeLimit(maxPixels: number): string {
  const side = Math.round(Math.sqrt(maxPixels));
  if (side * side === maxPixels) return `${megapixels(maxPixels)} (${side} x ${side})`;
  return maxPixels >= 1e5 ? `${megapixels(maxPixels)} (${maxPixels} pixels)` : megapixels(maxPixels);
}

/** The limit of `opts`, checked: a number > 0 (Infinity allowed), default {@link DEFAULT_MAX_PIXELS}. */
export function maxPixelsOption(opts: ImageDecodeOptions | undefined, fn: string): number {
  const m = opts?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof m !== 'number' || !(m > 0))
    throw new RangeError(`${fn}: maxPixels must be a number > 0 (Infinity for no limit), got ${String(m)}`);
  return m;
}

/**
 * Refuse an image whose header states more than `maxPixels` pixels, naming the file and the limit.
 * @throws DataError
 */
export function checkImageSize(header: ImageHeader, maxPixels: number, name: string, fn: string): void {
  const n = header.width * header.height;
  if (n > maxPixels) {
    throw new DataError(
      `${fn}: '${name}': image is ${header.width} x ${header.height} (${megapixels(n)}), above the decode limit of ${describeLimit(maxPixels)}; raise it with maxPixels`,
      { file: name },
    );
  }
}

/** A PNG's concatenated IDAT data and the number of bytes it must inflate to, from IHDR. */
export interface PngPixelData {
  /** The zlib stream (every IDAT chunk's data, in order). */
  idat: Uint8Array;
  /** Bytes the stream must inflate to: filter byte + packed samples per row, per Adam7 pass if interlaced. */
  expected: number;
}

/** The Adam7 passes as [x0, y0, dx, dy]: the first column and row, and the steps between them. */
export const ADAM7: readonly [number, number, number, number][] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Bytes a PNG's pixel data inflates to, from its header. */
export function pngInflatedSize(h: ImageHeader): number {
  const rowBytes = (w: number) => 1 + Math.ceil((w * h.channels * h.bitDepth) / 8);
  if (!h.interlaced) return h.height * rowBytes(h.width);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    const pw = h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0;
    const ph = h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0;
    if (pw > 0 && ph > 0) total += ph * rowBytes(pw);
  }
  return total;
}

/**
 * Walk a PNG's chunks (up to IEND) and gather its pixel data; refuses a chunk running past the end of
 * the file and a file without IDAT, naming the file.
 * @throws DataError
 */
export function pngPixelData(bytes: Uint8Array, header: ImageHeader, name: string, fn: string): PngPixelData {
  const parts: Uint8Array[] = [];
  let total = 0;
  let p = 8;
  let ended = false;
  while (p + 8 <= bytes.length) {
    const len = u32be(bytes, p);
    const type = String.fromCharCode(bytes[p + 4], bytes[p + 5], bytes[p + 6], bytes[p + 7]);
    if (p + 12 + len > bytes.length)
      throw new DataError(
        `${fn}: ${name} is a corrupt or unsupported PNG (cut short: its ${type} chunk runs past the end of the file)`,
        { file: name },
      );
    if (type === 'IDAT') {
      parts.push(bytes.subarray(p + 8, p + 8 + len));
      total += len;
    }
    p += 12 + len;
    if (type === 'IEND') {
      ended = true;
      break;
    }
  }
  const corrupt = (why: string) =>
    new DataError(`${fn}: ${name} is a corrupt or unsupported PNG (${why})`, { file: name });
  if (!ended && p !== bytes.length) throw corrupt('cut short: the file ends inside a chunk header');
  if (parts.length === 0) throw corrupt('no pixel data: no IDAT chunk');
  let idat: Uint8Array;
  if (parts.length === 1) idat = parts[0];
  else {
    idat = new Uint8Array(total);
    let o = 0;
    for (const part of parts) {
      idat.set(part, o);
      o += part.length;
    }
  }
  return { idat, expected: pngInflatedSize(header) };
}

/**
 * Refuse a PNG whose pixel data inflates to fewer or more bytes than its header needs.
 * @param got bytes the stream inflated to (the caller stops at `expected + 1`), or -1 when the
 *   compressed stream ended early and the count is unknown
 * @throws DataError
 */
export function checkPngPixelBytes(
  header: ImageHeader,
  expected: number,
  got: number,
  name: string,
  fn: string,
): void {
  const what = `${header.width} x ${header.height}${header.interlaced ? ' interlaced' : ''} header`;
  if (got > expected)
    throw new DataError(
      `${fn}: '${name}': PNG pixel data is longer than its ${what} allows (more than ${expected} bytes)`,
      { file: name },
    );
  if (got < expected) {
    const how = got < 0 ? 'its compressed stream ends early' : `it inflates to ${got} bytes`;
    throw new DataError(
      `${fn}: '${name}': PNG pixel data is cut short (${how}; its ${what} needs ${expected})`,
      { file: name },
    );
  }
}

/**
 * The bytes a PNG's zlib stream inflates to, stopping at `limit` (then `limit`), or -1 when the stream
 * ends early and the count is unknown; throws when the data does not inflate.
 */
export type InflatedLength = (idat: Uint8Array, limit: number) => number;

/** {@link InflatedLength} with fflate, into a buffer of `limit` bytes (browser-safe). */
function fflateInflatedLength(idat: Uint8Array, limit: number): number {
  try {
    return unzlibSync(idat, { out: new Uint8Array(limit) }).length;
  } catch (e) {
    // fflate writes no further than `out`: a stored block that does not fit throws a RangeError.
    if (e instanceof RangeError) return limit;
    if (/unexpected EOF/.test((e as Error).message)) return -1;
    throw e;
  }
}

/**
 * The checks the decoders make before decoding, on encoded bytes: a PNG / JPEG header over
 * `maxPixels`, and PNG pixel data that does not inflate to the size its header needs (inflated by
 * `inflatedLength`, fflate by default, up to that size + 1). Bytes of other formats pass.
 * @param fn the function named in errors
 * @throws DataError naming the file
 */
export function checkImageBytes(
  bytes: Uint8Array,
  maxPixels: number,
  name: string,
  fn: string,
  inflatedLength: InflatedLength = fflateInflatedLength,
): void {
  const header = headerToCheck(bytes, name, fn);
  if (!header) return;
  checkImageSize(header, maxPixels, name, fn);
  if (header.format !== 'png') return;
  const { idat, expected } = pngPixelData(bytes, header, name, fn);
  let got: number;
  try {
    got = inflatedLength(idat, expected + 1);
  } catch (e) {
    throw new DataError(`${fn}: '${name}': PNG pixel data does not inflate (${(e as Error).message})`, {
      file: name,
      cause: e,
    });
  }
  checkPngPixelBytes(header, expected, got, name, fn);
}
