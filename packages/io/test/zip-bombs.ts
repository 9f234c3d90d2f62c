/**
 * Hostile zip archives for the tests, small on disk: deflate streams of zeros that inflate to GiBs
 * (about 1 KiB of stream per MiB of zeros), stitched from one full-flushed segment.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';

const MIB = 1 << 20;
const segment = deflateRawSync(Buffer.alloc(MIB), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
const zeroMib = Buffer.alloc(MIB);

/** A raw deflate stream of `mib` MiB of zeros, its CRC-32 and size. */
export function deflatedZeros(mib: number): { data: Uint8Array; crc: number; size: number } {
  const parts: Buffer[] = [];
  let crc = 0;
  for (let i = 0; i < mib; i++) {
    parts.push(segment);
    crc = crc32(zeroMib, crc);
  }
  // A final, empty fixed-Huffman block ends the stream.
  parts.push(Buffer.from([0x03, 0x00]));
  return { data: new Uint8Array(Buffer.concat(parts)), crc, size: mib * MIB };
}

/** An entry of {@link rawZip}: bytes as they go into the archive, with the sizes and CRC to declare. */
export interface RawEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: 0 | 8;
  data: Uint8Array;
  size: number;
  crc: number;
}

/** A stored entry. */
export function stored(name: string, data: Uint8Array): RawEntry {
  return { name, method: 0, data, size: data.length, crc: crc32(data) };
}

/** A zip archive of entries whose declared sizes and CRCs are taken as given. */
export function rawZip(entries: readonly RawEntry[]): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(e.crc >>> 0, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.method, 10);
    c.writeUInt32LE(e.crc >>> 0, 16);
    c.writeUInt32LE(e.data.length, 20);
    c.writeUInt32LE(e.size, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    parts.push(local, name, Buffer.from(e.data));
    central.push(c, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, end]));
}

/** Run `fn` and report how much the process's memory grew: RSS after it, and the peak RSS. */
export function measureRss<T>(fn: () => T): { result: T; rssGrowth: number; peakGrowth: number } {
  const rss0 = process.memoryUsage().rss;
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const result = fn();
  const rssGrowth = process.memoryUsage().rss - rss0;
  const peakGrowth = process.resourceUsage().maxRSS * 1024 - Math.max(peak0, rss0);
  return { result, rssGrowth, peakGrowth };
}
