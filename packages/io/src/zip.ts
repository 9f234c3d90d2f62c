/**
 * A strict zip reader and a small zip writer for the containers torch (`.pth` >= 1.6) and numpy (`.npz`)
 * use. Reading is bounded: the central directory must lie inside the file, entry counts are checked
 * against its size, deflated entries may not claim more than the format's maximum ratio (1032:1), and
 * every entry's CRC-32 is verified, so a truncated, bit-flipped or hostile archive is refused before
 * anything large is allocated. Entries are read on demand ({@link openZip}): an entry nobody asks for is
 * never inflated, and the bytes inflated from an archive are bounded by a budget checked against the
 * declared sizes before inflating (`maxInflatedBytes`, default 1 GiB + 32 x the archive's size). Limits: no encryption, no multi-disk archives, methods STORED (0) and
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

/** Options of {@link readZip} and {@link openZip}. */
export interface ZipReadOptions {
  /** Verify each entry's CRC-32 (default true). */
  verifyCrc?: boolean;
  /** Only inflate / copy entries whose name passes this test (others are listed but not read). */
  filter?: (name: string) => boolean;
  /**
   * Upper bound on the bytes inflated from DEFLATE entries, all reads of the archive together (stored
   * entries are views into the archive and do not count). Checked against the sizes the archive
   * declares BEFORE anything is inflated, and each entry is inflated into a buffer of its declared size
   * (a stream that wants more is refused). Default {@link defaultMaxInflatedBytes} of the archive's size:
   * 1 GiB + 32 x the archive's size.
   */
  maxInflatedBytes?: number;
}

/** One entry of a zip archive's central directory, as {@link openZip} lists it (nothing read yet). */
export interface ZipEntryInfo {
  /** Entry name (path inside the archive). */
  readonly name: string;
  /** Compression method: 0 = stored, 8 = deflate (others are refused when read). */
  readonly method: number;
  /** Compressed size in bytes. */
  readonly compressedSize: number;
  /** Uncompressed size the archive declares, in bytes (reading checks it). */
  readonly size: number;
  /** CRC-32 the archive declares. */
  readonly crc: number;
}

/** A zip archive whose directory has been read and checked, entries read one at a time on demand. */
export interface ZipArchive {
  /** Every entry, by name, in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntryInfo>;
  /** Bytes that DEFLATE entries may still inflate to ({@link ZipReadOptions.maxInflatedBytes} minus what was read). */
  readonly inflateBudgetLeft: number;
  /**
   * Read one entry: a view into the archive (stored) or a new array (deflated, charged to the budget
   * before inflating). CRC-32, declared size and budget are checked.
   * @throws TensorFormatError naming the entry when it is missing, corrupt, or over the budget
   */
  read(name: string): Uint8Array;
}

/** 1 GiB. */
const GIB = 2 ** 30;

/**
 * The default inflation budget of an archive of `archiveBytes` bytes: 1 GiB + 32 x its size. Stored
 * entries (torch.save, np.savez) cost nothing; real compressed tensor data (np.savez_compressed) inflates
 * well below 32:1, while a deflate bomb reaches 1032:1, so a small hostile archive costs at most ~1 GiB.
 */
export function defaultMaxInflatedBytes(archiveBytes: number): number {
  return GIB + 32 * archiveBytes;
}

function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

/**
 * Read a zip archive's central directory (held in memory) without reading any entry; entries are read
 * with {@link ZipArchive.read}. The directory must lie inside the file, names must be unique, entries
 * may not be encrypted, and deflated entries may not claim more than the format's maximum ratio.
 * `format` names the outer file format in errors.
 */
export function openZip(bytes: Uint8Array, format: string, opts: ZipReadOptions = {}): ZipArchive {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`openZip: bytes must be a Uint8Array, got ${typeof bytes}`);
  bytes = asPlainBytes(bytes);
  const verify = opts.verifyCrc ?? true;
  const limit = opts.maxInflatedBytes ?? defaultMaxInflatedBytes(bytes.length);
  if (!(limit >= 0))
    throw new RangeError(`openZip: maxInflatedBytes must be a number >= 0, got ${String(limit)}`);
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
  const entries = new Map<string, ZipEntryInfo & { readonly local: number }>();
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
    if (entries.has(name)) throw new TensorFormatError(format, `zip entry '${name}' appears twice`);
    entries.set(name, { name, method, compressedSize: csize, size: usize, crc, local });
  }
  let left = limit;
  const read = (name: string): Uint8Array => {
    const e = entries.get(name);
    if (!e) throw new TensorFormatError(format, `zip entry '${name}' is missing`);
    checkSizes(e, format);
    if (e.method === 8 && e.size > left) {
      throw new TensorFormatError(
        format,
        `zip entry '${name}' declares ${e.size} bytes (${formatBytes(e.size)}), more than the ${formatBytes(left)} left of the inflation budget of ${formatBytes(limit)} (maxInflatedBytes)`,
      );
    }
    const lr = new ByteReader(bytes, format, e.local);
    if (lr.u32(`local header of '${name}'`) !== LOCAL)
      throw new TensorFormatError(format, `zip entry '${name}' has a corrupt local header`);
    lr.take(22);
    const ln = lr.u16();
    const lm = lr.u16();
    lr.take(ln + lm, `local header of '${name}'`);
    const raw = lr.take(e.compressedSize, `data of zip entry '${name}'`);
    let data: Uint8Array;
    if (e.method === 0) {
      data = raw;
    } else if (e.method === 8) {
      left -= e.size;
      // A buffer of the declared size + 1: fflate never writes past it, so a stream that inflates to
      // more shows as one byte too many and is refused; memory stays at the declared size.
      let out: Uint8Array;
      try {
        out = new Uint8Array(e.size + 1);
      } catch {
        throw new TensorFormatError(
          format,
          `zip entry '${name}' declares ${e.size} bytes, more than one array can hold`,
        );
      }
      try {
        data = inflateSync(raw, { out });
      } catch (err) {
        // fflate writes no further than `out`: a stored block that does not fit throws a RangeError.
        if (err instanceof RangeError)
          throw new TensorFormatError(
            format,
            `zip entry '${name}' inflates to more than the ${e.size} bytes it declares (hostile or corrupt file)`,
          );
        throw new TensorFormatError(
          format,
          `zip entry '${name}' does not inflate (${(err as Error).message})`,
        );
      }
      if (data.length > e.size)
        throw new TensorFormatError(
          format,
          `zip entry '${name}' inflates to more than the ${e.size} bytes it declares (hostile or corrupt file)`,
        );
      if (data.length !== e.size)
        throw new TensorFormatError(
          format,
          `zip entry '${name}' inflates to ${data.length} bytes, expected ${e.size}`,
        );
    } else {
      throw new TensorFormatError(
        format,
        `zip entry '${name}' uses compression method ${e.method} (only stored and deflate are supported)`,
      );
    }
    if (verify && crc32(data) !== e.crc)
      throw new TensorFormatError(format, `CRC-32 mismatch in zip entry '${name}' (corrupt file)`);
    return data;
  };
  return {
    entries,
    get inflateBudgetLeft() {
      return left;
    },
    read,
  };
}

/**
 * Read the entries of a zip archive held in memory (all of them, or those passing `filter`). The
 * declared sizes of the deflated entries to read are checked against `maxInflatedBytes` before any is
 * inflated. STORED entries are returned as views into `bytes` (copy them before keeping them beyond
 * `bytes`' lifetime); DEFLATE entries are inflated into new arrays. `format` names the outer file
 * format in errors. To read entries one at a time on demand, use {@link openZip}.
 * @returns entry name -> contents, in central-directory order.
 */
export function readZip(
  bytes: Uint8Array,
  format: string,
  opts: ZipReadOptions = {},
): Map<string, Uint8Array> {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`readZip: bytes must be a Uint8Array, got ${typeof bytes}`);
  const zip = openZip(bytes, format, opts);
  const names = [...zip.entries.keys()].filter((n) => !opts.filter || opts.filter(n));
  checkInflateBudget(zip, names, format);
  const out = new Map<string, Uint8Array>();
  for (const name of names) out.set(name, zip.read(name));
  return out;
}

/**
 * Refuse, before anything is inflated, when the deflated entries among `names` declare more bytes in
 * total than `zip`'s remaining inflation budget. `format` names the outer file format in errors.
 */
export function checkInflateBudget(zip: ZipArchive, names: readonly string[], format: string): void {
  let total = 0;
  for (const n of names) {
    const e = zip.entries.get(n);
    if (!e) continue;
    checkSizes(e, format);
    if (e.method === 8) total += e.size;
  }
  if (total > zip.inflateBudgetLeft) {
    throw new TensorFormatError(
      format,
      `the ${names.length} zip entries to read declare ${total} bytes (${formatBytes(total)}) when inflated, more than the inflation budget of ${formatBytes(zip.inflateBudgetLeft)} (maxInflatedBytes)`,
    );
  }
}

/** The declared sizes must be possible: equal for stored entries, within deflate's maximum ratio. */
function checkSizes(e: ZipEntryInfo, format: string): void {
  if (e.method === 0 && e.size !== e.compressedSize)
    throw new TensorFormatError(
      format,
      `stored zip entry '${e.name}' has sizes ${e.compressedSize} and ${e.size}`,
    );
  if (e.method === 8 && e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new TensorFormatError(
      format,
      `zip entry '${e.name}' claims ${e.size} bytes from ${e.compressedSize} compressed (impossible ratio; hostile or corrupt file)`,
    );
  }
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
