/**
 * A strict zip reader and a small zip writer for the containers torch (`.pth` >= 1.6) and numpy (`.npz`)
 * use. Reading is bounded: the central directory must lie inside the file, entry counts are checked
 * against its size, deflated entries may not claim more than the format's maximum ratio (1032:1), and
 * every entry's CRC-32 is verified, so a truncated, bit-flipped or hostile archive is refused before
 * anything large is allocated. Limits: no encryption, no multi-disk archives, methods STORED (0) and
 * DEFLATE (8) only; zip64 records are read, not written (in-memory files stay below 4 GiB anyway).
 */
import { deflateSync, inflateSync } from 'fflate';
import { asPlainBytes, ByteReader, concatBytes, crc32, TensorFormatError, utf8 } from './bytes.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_DEFLATE_RATIO = 1032;
const U32_MAX = 0xffffffff;

/** Options of {@link readZip}. */
export interface ZipReadOptions {
  /** Verify each entry's CRC-32 (default true). */
  verifyCrc?: boolean;
  /** Only inflate / copy entries whose name passes this test (others are listed but not read). */
  filter?: (name: string) => boolean;
}

/**
 * Read every entry of a zip archive held in memory. STORED entries are returned as views into `bytes`
 * (copy them before keeping them beyond `bytes`' lifetime); DEFLATE entries are inflated into new arrays.
 * `format` names the outer file format in errors.
 * @returns entry name -> contents, in central-directory order.
 */
export function readZip(
  bytes: Uint8Array,
  format: string,
  opts: ZipReadOptions = {},
): Map<string, Uint8Array> {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`readZip: bytes must be a Uint8Array, got ${typeof bytes}`);
  bytes = asPlainBytes(bytes);
  const verify = opts.verifyCrc ?? true;
  const eocd = findEocd(bytes, format);
  const r = new ByteReader(bytes, format, eocd + 4);
  const disk = r.u16();
  const cdDisk = r.u16();
  let count: number = r.u16();
  const countAll = r.u16();
  let cdSize: number = r.u32();
  let cdOffset: number = r.u32();
  if (disk !== 0 || cdDisk !== 0 || count !== countAll)
    throw new TensorFormatError(format, 'multi-disk zip archives are not supported');
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    if (eocd < 20)
      throw new TensorFormatError(format, 'zip64 archive without a zip64 end-of-directory locator');
    const loc = new ByteReader(bytes, format, eocd - 20);
    if (loc.u32() !== ZIP64_LOCATOR)
      throw new TensorFormatError(format, 'zip64 archive without a zip64 end-of-directory locator');
    loc.u32();
    const z = new ByteReader(bytes, format, loc.u64('zip64 record offset'));
    if (z.u32() !== ZIP64_EOCD) throw new TensorFormatError(format, 'corrupt zip64 end-of-directory record');
    z.take(20, 'zip64 record');
    count = z.u64('entry count');
    z.u64();
    cdSize = z.u64('central directory size');
    cdOffset = z.u64('central directory offset');
  }
  if (cdOffset + cdSize > bytes.length || count * 46 > cdSize) {
    throw new TensorFormatError(
      format,
      `corrupt zip central directory (${count} entries, ${cdSize} bytes at offset ${cdOffset} in a ${bytes.length}-byte file)`,
    );
  }
  const cd = new ByteReader(bytes, format, cdOffset, cdOffset + cdSize);
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    if (cd.u32('central directory entry') !== CENTRAL)
      throw new TensorFormatError(format, `corrupt zip central directory entry ${i}`);
    cd.take(4);
    const flags = cd.u16();
    const method = cd.u16();
    cd.take(4);
    const crc = cd.u32();
    let csize: number = cd.u32();
    let usize: number = cd.u32();
    const nameLen = cd.u16();
    const extraLen = cd.u16();
    const commentLen = cd.u16();
    cd.take(8);
    let local: number = cd.u32();
    const name = new TextDecoder().decode(cd.take(nameLen, 'entry name'));
    const extra = new ByteReader(cd.take(extraLen, 'extra field'), format);
    cd.take(commentLen, 'entry comment');
    while (extra.remaining >= 4) {
      const id = extra.u16();
      const size = extra.u16();
      const field = new ByteReader(extra.take(size, 'extra field'), format);
      if (id !== 1) continue;
      if (usize === U32_MAX) usize = field.u64('zip64 size');
      if (csize === U32_MAX) csize = field.u64('zip64 size');
      if (local === U32_MAX) local = field.u64('zip64 offset');
    }
    if (flags & 1) throw new TensorFormatError(format, `zip entry '${name}' is encrypted`);
    if (out.has(name)) throw new TensorFormatError(format, `zip entry '${name}' appears twice`);
    if (opts.filter && !opts.filter(name)) continue;
    const lr = new ByteReader(bytes, format, local);
    if (lr.u32(`local header of '${name}'`) !== LOCAL)
      throw new TensorFormatError(format, `zip entry '${name}' has a corrupt local header`);
    lr.take(22);
    const ln = lr.u16();
    const lm = lr.u16();
    lr.take(ln + lm, `local header of '${name}'`);
    const raw = lr.take(csize, `data of zip entry '${name}'`);
    let data: Uint8Array;
    if (method === 0) {
      if (usize !== csize)
        throw new TensorFormatError(format, `stored zip entry '${name}' has sizes ${csize} and ${usize}`);
      data = raw;
    } else if (method === 8) {
      if (usize > csize * MAX_DEFLATE_RATIO + 1024) {
        throw new TensorFormatError(
          format,
          `zip entry '${name}' claims ${usize} bytes from ${csize} compressed (impossible ratio; hostile or corrupt file)`,
        );
      }
      try {
        data = inflateSync(raw, { out: new Uint8Array(usize) });
      } catch (e) {
        throw new TensorFormatError(format, `zip entry '${name}' does not inflate (${(e as Error).message})`);
      }
      if (data.length !== usize)
        throw new TensorFormatError(
          format,
          `zip entry '${name}' inflates to ${data.length} bytes, expected ${usize}`,
        );
    } else {
      throw new TensorFormatError(
        format,
        `zip entry '${name}' uses compression method ${method} (only stored and deflate are supported)`,
      );
    }
    if (verify && crc32(data) !== crc)
      throw new TensorFormatError(format, `CRC-32 mismatch in zip entry '${name}' (corrupt file)`);
    out.set(name, data);
  }
  return out;
}

function findEocd(bytes: Uint8Array, format: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stop = Math.max(0, bytes.length - 22 - 0xffff);
  for (let p = bytes.length - 22; p >= stop; p--) {
    if (view.getUint32(p, true) === EOCD && p + 22 + view.getUint16(p + 20, true) <= bytes.length) return p;
  }
  throw new TensorFormatError(format, 'not a zip archive or truncated (no end-of-central-directory record)');
}

/** One entry for {@link writeZip}. */
export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
  /** 0 = stored (default), 8 = deflate. */
  method?: 0 | 8;
}

/**
 * Build a zip archive. Entries are written in order with a fixed timestamp (1980-01-01), so the output
 * is deterministic. With `align` (PyTorch uses 64), each entry's data is padded to start at a multiple
 * of `align` bytes using an 'FB' extra field, exactly as PyTorch's writer does, so torch can
 * memory-map the storages.
 */
export function writeZip(
  entries: readonly ZipWriteEntry[],
  opts: { align?: number; level?: number } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw new RangeError(`writeZip: entry name '${e.name}' is used twice`);
    seen.add(e.name);
    const name = utf8(e.name);
    const method = e.method ?? 0;
    const crc = crc32(e.data);
    const body = method === 8 ? deflateRaw(e.data, opts.level ?? 6) : e.data;
    let extra = new Uint8Array(0);
    if (opts.align) {
      const start = offset + 30 + name.length + 4;
      const pad = (opts.align - (start % opts.align)) % opts.align;
      extra = new Uint8Array(4 + pad).fill(0x5a);
      extra[0] = 0x46;
      extra[1] = 0x42;
      extra[2] = pad & 0xff;
      extra[3] = pad >> 8;
    }
    const utf8Flag = /^[\x20-\x7e]*$/.test(e.name) ? 0 : 0x800;
    if (offset + 30 + name.length + extra.length + body.length > U32_MAX)
      throw new RangeError('writeZip: archives over 4 GiB are not supported');
    const header = (sig: number, isCentral: boolean): Uint8Array => {
      const h = new Uint8Array(isCentral ? 46 : 30);
      const v = new DataView(h.buffer);
      let p = 0;
      const u16 = (x: number) => {
        v.setUint16(p, x, true);
        p += 2;
      };
      const u32 = (x: number) => {
        v.setUint32(p, x >>> 0, true);
        p += 4;
      };
      u32(sig);
      if (isCentral) u16(20);
      u16(20);
      u16(utf8Flag);
      u16(method);
      u16(0);
      u16(0x21);
      u32(crc);
      u32(body.length);
      u32(e.data.length);
      u16(name.length);
      u16(isCentral ? 0 : extra.length);
      if (isCentral) {
        u16(0);
        u16(0);
        u16(0);
        u32(0);
        u32(offset);
      }
      return h;
    };
    parts.push(header(LOCAL, false), name, extra, body);
    central.push(header(CENTRAL, true), name);
    offset += 30 + name.length + extra.length + body.length;
  }
  const cd = concatBytes(central);
  const end = new Uint8Array(22);
  const v = new DataView(end.buffer);
  v.setUint32(0, EOCD, true);
  v.setUint16(8, entries.length, true);
  v.setUint16(10, entries.length, true);
  v.setUint32(12, cd.length, true);
  v.setUint32(16, offset, true);
  if (entries.length > 0xfffe) throw new RangeError('writeZip: more than 65534 entries is not supported');
  return concatBytes([...parts, cd, end]);
}

function deflateRaw(data: Uint8Array, level: number): Uint8Array {
  return deflateSync(data, {
    level: Math.max(0, Math.min(9, Math.round(level))) as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9,
  });
}
