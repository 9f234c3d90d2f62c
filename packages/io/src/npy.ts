/**
 * numpy `.npy` and `.npz` reading and writing
 * (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * `.npy`: the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a little-endian header length (uint16 for
 * 1.0, uint32 after), a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
 * padded with spaces and a newline to a multiple of 64 bytes, then the raw array.
 * `.npz`: a zip archive of `.npy` files named `<key>.npy` (stored by `np.savez`, deflated by
 * `np.savez_compressed`).
 *
 * Limits: plain numeric dtypes only (f2, f4, f8, i1, i2, i4, i8, u1, b1, either byte order on read);
 * structured and object arrays (which would need pickle) are refused; Fortran-ordered arrays are
 * reordered to C order on read; writing is always little-endian C order, byte-identical to `np.save`.
 * numpy has no bfloat16: cast such tensors first.
 */
import {
  ByteReader,
  bytesToTyped,
  concatBytes,
  decodeLatin1,
  decodeUtf8,
  latin1,
  TensorFormatError,
  typedToBytes,
} from './bytes.js';
import {
  HOST_DTYPES,
  type HostDType,
  type HostTensor,
  type HostTensorDict,
  isHostTensor,
  permuteHost,
  setEntry,
  shapeSize,
  type TensorFileContents,
  upcastHalf,
} from './host-tensor.js';
import { readZip, writeZip } from './zip.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR: Record<string, HostDType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  b1: 'bool',
};
const TO_DESCR: Partial<Record<HostDType, string>> = {
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
};

/** Options of the numpy readers. */
export interface NpyReadOptions {
  /** Decode float16 arrays to float32 (default true). */
  upcastHalf?: boolean;
}

/**
 * Read a `.npy` file held in memory into a C-ordered host tensor (data copied out of `bytes`).
 * `what` names the array in errors (the npz reader passes the entry name).
 */
export function parseNpy(bytes: Uint8Array, opts: NpyReadOptions = {}, what = 'npy'): HostTensor {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parseNpy: bytes must be a Uint8Array, got ${typeof bytes}`);
  const r = new ByteReader(bytes, what);
  const magic = r.take(6, 'magic');
  if (MAGIC.some((b, i) => magic[i] !== b)) throw new TensorFormatError(what, 'not a .npy file (bad magic)');
  const major = r.u8('version');
  r.u8('version');
  if (major < 1 || major > 3) throw new TensorFormatError(what, `unsupported .npy version ${major}`);
  const hlen = major === 1 ? r.u16('header length') : r.u32('header length');
  const raw = r.take(hlen, 'header');
  const text = major === 3 ? decodeUtf8(raw, what, 'header') : decodeLatin1(raw);
  const header = parseHeaderDict(text, what);
  const descr = header.descr;
  if (typeof descr !== 'string')
    throw new TensorFormatError(
      what,
      `header 'descr' ${JSON.stringify(descr)} is not a simple dtype (structured arrays are not supported)`,
    );
  const order = descr[0];
  const dtype = DESCR[descr.slice(1)];
  if (!'<>|='.includes(order) || !dtype) {
    throw new TensorFormatError(
      what,
      `dtype '${descr}' is not supported (supported: ${Object.keys(DESCR).join(', ')}; object arrays are refused)`,
    );
  }
  if (typeof header.fortran_order !== 'boolean')
    throw new TensorFormatError(what, `header 'fortran_order' must be True or False`);
  const shape = header.shape;
  if (!Array.isArray(shape)) throw new TensorFormatError(what, `header 'shape' must be a tuple of integers`);
  let n: number;
  try {
    n = shapeSize(shape);
  } catch {
    throw new TensorFormatError(what, `invalid shape (${shape.join(', ')})`);
  }
  const size = n * HOST_DTYPES[dtype].itemsize;
  if (r.remaining !== size) {
    throw new TensorFormatError(
      what,
      `shape (${shape.join(', ')}) of ${descr} needs ${size} data bytes, the file has ${r.remaining} (${r.remaining < size ? 'truncated' : 'trailing bytes'})`,
    );
  }
  const data = bytesToTyped(dtype, r.take(size), order !== '>');
  let t: HostTensor;
  if (header.fortran_order && shape.length > 1) {
    const rev = shape.slice().reverse();
    t = permuteHost(
      { dtype, shape: rev, data },
      rev.map((_, i) => rev.length - 1 - i),
    );
  } else {
    t = { dtype, shape: shape.slice(), data };
  }
  return (opts.upcastHalf ?? true) ? upcastHalf(t) : t;
}

type PyLiteral = string | boolean | number[] | null;

// A parser for the one-line Python dict literal of a .npy header: string keys; values are strings,
// True / False / None, or tuples of integers. Anything else (nested lists of a structured dtype, calls)
// is refused, so the header is never evaluated.
function parseHeaderDict(text: string, what: string): Record<string, PyLiteral> {
  let p = 0;
  const fail = (msg: string): never => {
    throw new TensorFormatError(
      what,
      `malformed header (${msg} at column ${p}): ${JSON.stringify(text.slice(0, 120))}`,
    );
  };
  const ws = () => {
    while (p < text.length && ' \t\n\r'.includes(text[p])) p++;
  };
  const str = (): string => {
    const q = text[p];
    if (q !== "'" && q !== '"') fail('expected a string');
    const end = text.indexOf(q, p + 1);
    if (end < 0) fail('unterminated string');
    const s = text.slice(p + 1, end);
    if (s.includes('\\')) fail('escapes in strings are not supported');
    p = end + 1;
    return s;
  };
  const value = (): PyLiteral => {
    ws();
    const c = text[p];
    if (c === "'" || c === '"') return str();
    for (const [word, v] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (text.startsWith(word, p)) {
        p += word.length;
        return v;
      }
    }
    if (c === '(') {
      p++;
      const out: number[] = [];
      for (;;) {
        ws();
        if (text[p] === ')') {
          p++;
          return out;
        }
        const m = /^\d+L?/.exec(text.slice(p, p + 24));
        if (!m) fail('expected a non-negative integer in the shape');
        out.push(Number.parseInt(m![0], 10));
        p += m![0].length;
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== ')') fail("expected ',' or ')'");
      }
    }
    return fail(`unsupported value starting with ${JSON.stringify(c ?? '')}`);
  };
  const out: Record<string, PyLiteral> = {};
  ws();
  if (text[p++] !== '{') fail("expected '{'");
  for (;;) {
    ws();
    if (text[p] === '}') {
      p++;
      break;
    }
    const k = str();
    ws();
    if (text[p++] !== ':') fail("expected ':'");
    setEntry(out, k, value());
    ws();
    if (text[p] === ',') p++;
    else if (text[p] !== '}') fail("expected ',' or '}'");
  }
  ws();
  if (p !== text.length) fail('trailing characters');
  for (const k of ['descr', 'fortran_order', 'shape']) if (!Object.hasOwn(out, k)) fail(`missing key '${k}'`);
  return out;
}

/**
 * Write a host tensor as a `.npy` file (version 1.0, or 2.0 when the header exceeds 64 KiB),
 * byte-identical to `numpy.save` of the same C-ordered little-endian array.
 */
export function serializeNpy(t: HostTensor, what = 'serializeNpy'): Uint8Array {
  if (!isHostTensor(t)) throw new TypeError(`${what}: expected a host tensor ({dtype, shape, data})`);
  const n = shapeSize(t.shape, what);
  if (t.data.length !== n)
    throw new RangeError(`${what}: ${t.data.length} elements for shape [${t.shape.join(', ')}]`);
  const descr = TO_DESCR[t.dtype];
  if (!descr)
    throw new TypeError(`${what}: numpy has no ${t.dtype}; cast it first (castHostTensor(t, 'float32'))`);
  const shapeRepr = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  // numpy leaves room for the first axis to grow in place (np.lib.format.GROWTH_AXIS_MAX_DIGITS).
  if (t.shape.length > 0)
    header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(t.shape[0]).length));
  let version = 1;
  let hlen = header.length + 1;
  let padlen = ALIGN - ((8 + 2 + hlen) % ALIGN);
  if (hlen + padlen > 0xffff) {
    version = 2;
    padlen = ALIGN - ((8 + 4 + hlen) % ALIGN);
  }
  hlen += padlen;
  const prefix = new Uint8Array(version === 1 ? 10 : 12);
  prefix.set(MAGIC);
  prefix[6] = version;
  const v = new DataView(prefix.buffer);
  if (version === 1) v.setUint16(8, hlen, true);
  else v.setUint32(8, hlen, true);
  return concatBytes([prefix, latin1(`${header}${' '.repeat(padlen)}\n`), typedToBytes(t.data)]);
}

/** Options of {@link parseNpz}. */
export interface NpzReadOptions extends NpyReadOptions {
  /**
   * Upper bound on the bytes inflated from deflated entries (`np.savez_compressed`), checked against
   * their declared sizes before anything is inflated (default 1 GiB + 32 x the file size; stored
   * entries, as `np.savez` writes them, do not count).
   */
  maxInflatedBytes?: number;
}

/**
 * Read a `.npz` archive: every `<key>.npy` entry becomes tensor `key` (other entries are ignored and
 * never inflated).
 */
export function parseNpz(bytes: Uint8Array, opts: NpzReadOptions = {}): TensorFileContents {
  const tensors: HostTensorDict = {};
  const zipOpts = { filter: (n: string) => n.endsWith('.npy'), maxInflatedBytes: opts.maxInflatedBytes };
  for (const [name, data] of readZip(bytes, 'npz', zipOpts)) {
    setEntry(tensors, name.slice(0, -4), parseNpy(data, opts, `npz entry '${name}'`));
  }
  return { tensors, metadata: {} };
}

/**
 * Write tensors as a `.npz` archive (`<key>.npy` per tensor, in the record's order): stored like
 * `np.savez`, or deflated like `np.savez_compressed` with `compress: true`.
 */
export function serializeNpz(tensors: HostTensorDict, opts: { compress?: boolean } = {}): Uint8Array {
  if (typeof tensors !== 'object' || tensors === null)
    throw new TypeError('serializeNpz: tensors must be a record of host tensors');
  const entries = Object.entries(tensors).map(([k, t]) => ({
    name: `${k}.npy`,
    data: serializeNpy(t, `serializeNpz: tensors['${k}']`),
    method: opts.compress ? (8 as const) : (0 as const),
  }));
  return writeZip(entries);
}
