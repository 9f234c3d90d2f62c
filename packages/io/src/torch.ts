/**
 * PyTorch `.pth` / `.pt` / `.bin` state-dict files, read and written without Python.
 *
 * Two on-disk formats are read:
 * - zip (torch >= 1.6, `_use_new_zipfile_serialization`): `<dir>/data.pkl` is the pickled object, whose
 *   persistent ids `('storage', torch.FloatStorage, key, location, numel)` name raw little-endian
 *   storages `<dir>/data/<key>`; `<dir>/byteorder` (torch >= 2.1) may say 'big'.
 * - legacy (torch < 1.6): five concatenated items: a pickled magic number (0x1950a86a20f9469cfc6c), the
 *   pickled protocol version (1001), a pickled sys-info dict (byte order, type sizes), the main pickle
 *   (persistent ids `('storage', type, key, location, numel, view_metadata)`), a pickled list of storage
 *   keys, then for each key in that order an int64 element count followed by the storage's bytes.
 *
 * The pickle is read with the safe unpickler ({@link unpickle}) allowing only what state dicts use:
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor(_v2)`, `torch._utils._rebuild_parameter(_with_state)`,
 * the typed storage classes, `torch.Size`, `torch.device` and `_codecs.encode`. Anything else (numpy
 * arrays, argparse namespaces, custom classes, TorchScript archives, quantized or sparse tensors) is
 * refused with a message naming it, unless `unknownGlobals: 'stub'` asks to keep inert placeholders.
 *
 * Limits: strided (non-contiguous) tensors are copied into C order; a tensor may not have more elements
 * than its storage (expanded stride-0 tensors are refused) and all tensors together may not exceed
 * `maxBytes` (default 4x the file size + 1 MiB) after decoding, so a hostile file cannot make the reader
 * allocate much more than its own size. In the zip format only `data.pkl`, `byteorder` and the storages
 * of the tensors returned are read (inflated within `maxInflatedBytes`): other records are never
 * inflated. Complex and quantized dtypes are not supported. Writing produces
 * the zip format with 64-byte aligned storages (loadable by torch >= 1.6, also with `weights_only=True`).
 */
import {
  asPlainBytes,
  ByteReader,
  bytesToTyped,
  decodeLatin1,
  TensorFormatError,
  typedToBytes,
} from './bytes.js';
import {
  cStrides,
  gatherStrided,
  HOST_DTYPES,
  type HostData,
  type HostDType,
  type HostTensor,
  type HostTensorDict,
  isHostTensor,
  setEntry,
  shapeSize,
  type TensorFileContents,
  upcastHalf,
} from './host-tensor.js';
import { describe, type PyCallable, PyDict, PyGlobal, PyObject, unpickle } from './pickle.js';
import { PickleWriter } from './pickle-writer.js';
import { openZip, writeZip } from './zip.js';

const FORMAT = 'pth';
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

const STORAGE_DTYPES: Record<string, HostDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};
const DTYPE_STORAGE = Object.fromEntries(
  Object.entries(STORAGE_DTYPES)
    .filter(([k]) => k !== 'UntypedStorage')
    .map(([k, v]) => [v, k]),
) as Record<HostDType, string>;

/** A storage named by a persistent id; its bytes arrive later (legacy) or from a zip entry. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: HostDType,
    /** Elements of the root storage. */
    readonly numel: number,
    /** For legacy storage views: element offset and length of the view inside the root storage. */
    readonly viewOffset: number,
    readonly viewLength: number,
  ) {}
}

/** A tensor to be cut out of a storage once the storage bytes are known. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** Options of {@link parsePth}. */
export interface PthReadOptions {
  /** Decode float16 / bfloat16 tensors to float32 (default true). */
  upcastHalf?: boolean;
  /** 'error' (default) refuses non-allowed pickle globals; 'stub' keeps them as inert placeholders. */
  unknownGlobals?: 'error' | 'stub';
  /** Upper bound on the decoded bytes of all tensors (default 4x the file size + 1 MiB). */
  maxBytes?: number;
  /**
   * Zip-format files: upper bound on the bytes inflated from deflated entries, checked against their
   * declared sizes before inflating (default 1 GiB + 32 x the file size; see {@link openZip}).
   */
  maxInflatedBytes?: number;
  /**
   * Decode only the tensors whose flattened name (as in `tensors`) passes this test. The storages of the
   * others are never read or inflated; they are left out of `tensors` and appear as `null` in `root`.
   */
  only?: (name: string) => boolean;
}

/** A parsed `.pth` file: the unpickled object and every tensor in it, flattened to dotted names. */
export interface PthContents extends TensorFileContents {
  /** The unpickled root object (dicts are {@link PyDict}, tensors {@link HostTensor}). */
  root: unknown;
  /** With {@link PthReadOptions.only}: the names of the tensors left out (not decoded), else empty. */
  skipped: string[];
}

function toInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new TensorFormatError(FORMAT, `${what} is a ${describe(v)} (${String(v)}), expected an integer`);
  return v;
}

function toIntArray(v: unknown, what: string): number[] {
  if (!Array.isArray(v))
    throw new TensorFormatError(FORMAT, `${what} is a ${describe(v)}, expected a tuple of integers`);
  return v.map((x, i) => toInt(x, `${what}[${i}]`));
}

function storageGlobals(): Map<string, PyCallable | null> {
  const g = new Map<string, PyCallable | null>();
  for (const name of Object.keys(STORAGE_DTYPES)) g.set(`torch.${name}`, null);
  g.set('collections.OrderedDict', (args) => {
    const d = new PyDict();
    if (args.length === 0 || args[0] === null) return d;
    const pairs = args[0];
    if (!Array.isArray(pairs))
      throw new TensorFormatError(
        FORMAT,
        `OrderedDict(...) argument is a ${describe(pairs)}, expected a list of pairs`,
      );
    for (const p of pairs) {
      if (!Array.isArray(p) || p.length !== 2)
        throw new TensorFormatError(FORMAT, 'OrderedDict(...) items must be (key, value) pairs');
      d.set(p[0], p[1]);
    }
    return d;
  });
  const rebuild = (args: unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef))
      throw new TensorFormatError(
        FORMAT,
        `tensor storage is a ${describe(storage)}, expected a persistent storage id`,
      );
    return new TensorRef(
      storage,
      toInt(offset, 'tensor storage offset'),
      toIntArray(size, 'tensor size'),
      toIntArray(stride, 'tensor stride'),
    );
  };
  g.set('torch._utils._rebuild_tensor_v2', rebuild);
  g.set('torch._utils._rebuild_tensor', rebuild);
  g.set('torch._utils._rebuild_parameter', (args) => args[0]);
  g.set('torch._utils._rebuild_parameter_with_state', (args) => args[0]);
  g.set('torch.Size', (args) => (Array.isArray(args[0]) ? args[0].slice() : []));
  g.set('torch.device', (args) => args.join(':'));
  // Protocol-2 pickles of Python 3 bytes objects call _codecs.encode(text, 'latin1').
  g.set('_codecs.encode', (args) => {
    const [s, enc] = args;
    if (typeof s !== 'string') throw new TensorFormatError(FORMAT, '_codecs.encode expects a string');
    if (enc === 'latin1' || enc === 'latin-1') return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
    return new TextEncoder().encode(s);
  });
  return g;
}

function storageDType(t: unknown): HostDType {
  if (!(t instanceof PyGlobal) || t.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, t.name)) {
    throw new TensorFormatError(
      FORMAT,
      `storage type ${describe(t)} is not supported (complex or quantized storages?)`,
    );
  }
  return STORAGE_DTYPES[t.name];
}

/**
 * The key, dtype, element count and (legacy files) view of the storage a persistent id names, recorded
 * in `declared` (`isNew` at its first reference); a key referenced with another type or size is refused.
 */
function declareStorage(pid: unknown, declared: Map<string, { dtype: HostDType; numel: number }>) {
  const [kind, type, key, , numel, view] = Array.isArray(pid) ? pid : [];
  if (kind !== 'storage' || typeof key !== 'string')
    throw new TensorFormatError(FORMAT, `unsupported persistent id ${describe(pid)}`);
  const dtype = storageDType(type);
  const n = toInt(numel, `storage '${key}' size`);
  const prev = declared.get(key);
  if (prev && (prev.dtype !== dtype || prev.numel !== n))
    throw new TensorFormatError(FORMAT, `storage '${key}' is referenced with two different types or sizes`);
  declared.set(key, { dtype, numel: n });
  return { key, dtype, n, view: view as unknown, isNew: !prev };
}

/** Whether `bytes` starts like a zip archive (torch >= 1.6 files). */
export function isZipBytes(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

/**
 * Read a PyTorch `.pth` file (zip or legacy format) held in memory. The whole file is validated and all
 * tensors are decoded before this returns.
 * @returns the root object, its tensors flattened to dotted names (`{"model": sd}` gives `model.<key>`)
 * and empty metadata.
 */
export function parsePth(bytes: Uint8Array, opts: PthReadOptions = {}): PthContents {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parsePth: bytes must be a Uint8Array, got ${typeof bytes}`);
  bytes = asPlainBytes(bytes);
  const budget = { left: opts.maxBytes ?? 4 * bytes.length + (1 << 20) };
  const skipped: string[] = [];
  const root = isZipBytes(bytes)
    ? parseZipPth(bytes, opts, budget, skipped)
    : parseLegacyPth(bytes, opts, budget, skipped);
  return { root, tensors: flattenTensors(root), metadata: {}, skipped };
}

function parseZipPth(
  bytes: Uint8Array,
  opts: PthReadOptions,
  budget: { left: number },
  skipped: string[],
): unknown {
  const zip = openZip(bytes, FORMAT, { maxInflatedBytes: opts.maxInflatedBytes });
  const names = [...zip.entries.keys()];
  const pkl = names.filter((n) => /^[^/]*\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkl.length !== 1) {
    if (names.some((n) => n.endsWith('constants.pkl') || /(^|\/)code\//.test(n))) {
      throw new TensorFormatError(
        FORMAT,
        'this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead',
      );
    }
    throw new TensorFormatError(
      FORMAT,
      `zip archive has ${pkl.length} data.pkl records (expected one; not a torch.save file?)`,
    );
  }
  const prefix = pkl[0].slice(0, -'data.pkl'.length);
  // Only the records the pickle needs are read: byteorder, data.pkl, then the referenced storages.
  const orderEntry = zip.entries.get(`${prefix}byteorder`);
  if (orderEntry && orderEntry.size > 64)
    throw new TensorFormatError(
      FORMAT,
      `record '${prefix}byteorder' has ${orderEntry.size} bytes (expected 'little' or 'big')`,
    );
  const order = orderEntry ? zip.read(orderEntry.name) : undefined;
  const little = order ? decodeLatin1(order).trim() !== 'big' : true;
  const declared = new Map<string, { dtype: HostDType; numel: number }>();
  const { value } = unpickle(zip.read(pkl[0]), 0, {
    globals: storageGlobals(),
    unknownGlobals: opts.unknownGlobals,
    format: FORMAT,
    persistentLoad: (pid) => {
      const { key, dtype, n, isNew } = declareStorage(pid, declared);
      if (isNew) {
        // Checked from the directory alone; the bytes are read when a tensor needs them.
        const entry = zip.entries.get(`${prefix}data/${key}`);
        if (!entry)
          throw new TensorFormatError(
            FORMAT,
            `storage record '${prefix}data/${key}' is missing (truncated archive?)`,
          );
        const want = n * HOST_DTYPES[dtype].itemsize;
        if (entry.size !== want) {
          throw new TensorFormatError(
            FORMAT,
            `storage '${key}' has ${entry.size} bytes, its header says ${n} x ${dtype} = ${want}`,
          );
        }
      }
      return new StorageRef(key, dtype, n, 0, n);
    },
  });
  const storages = new Map<string, HostData>();
  const load = (ref: StorageRef): HostData => {
    let data = storages.get(ref.key);
    if (!data) {
      charge(budget, ref.numel * HOST_DTYPES[ref.dtype].itemsize, `storage '${ref.key}'`);
      data = bytesToTyped(ref.dtype, zip.read(`${prefix}data/${ref.key}`), little);
      storages.set(ref.key, data);
    }
    return data;
  };
  return materialize(value, load, opts, budget, skipped);
}

function parseLegacyPth(
  bytes: Uint8Array,
  opts: PthReadOptions,
  budget: { left: number },
  skipped: string[],
): unknown {
  if (bytes.length > 262 && decodeLatin1(bytes.subarray(257, 262)) === 'ustar') {
    throw new TensorFormatError(
      FORMAT,
      'tar-based torch files (torch < 0.4) are not supported; re-save with a newer torch',
    );
  }
  if (bytes.length < 2 || bytes[0] !== 0x80) {
    throw new TensorFormatError(FORMAT, 'not a PyTorch file (neither a zip archive nor a legacy pickle)');
  }
  const plain = { globals: new Map<string, PyCallable | null>(), format: FORMAT };
  const magic = unpickle(bytes, 0, plain);
  if (magic.value !== LEGACY_MAGIC && magic.value !== Number(LEGACY_MAGIC)) {
    throw new TensorFormatError(FORMAT, 'bad magic number: not a legacy PyTorch file');
  }
  const proto = unpickle(bytes, magic.end, plain);
  if (proto.value !== 1001)
    throw new TensorFormatError(
      FORMAT,
      `unsupported legacy protocol version ${String(proto.value)} (expected 1001)`,
    );
  const sys = unpickle(bytes, proto.end, plain);
  const little = !(sys.value instanceof PyDict) || sys.value.get('little_endian') !== false;
  const roots = new Map<string, { dtype: HostDType; numel: number }>();
  const main = unpickle(bytes, sys.end, {
    globals: storageGlobals(),
    unknownGlobals: opts.unknownGlobals,
    format: FORMAT,
    persistentLoad: (pid) => {
      const { key, dtype, n, view } = declareStorage(pid, roots);
      if (view === null || view === undefined) return new StorageRef(key, dtype, n, 0, n);
      const [, off, len] = toIntArray(
        Array.isArray(view) ? [0, ...view.slice(1)] : view,
        `storage view of '${key}'`,
      );
      if (off < 0 || len < 0 || off + len > n)
        throw new TensorFormatError(
          FORMAT,
          `storage view [${off}, ${off + len}) is outside storage '${key}' of ${n} elements`,
        );
      return new StorageRef(key, dtype, n, off, len);
    },
  });
  const keys = unpickle(bytes, main.end, plain);
  if (!Array.isArray(keys.value) || keys.value.some((k) => typeof k !== 'string')) {
    throw new TensorFormatError(FORMAT, 'legacy storage key list is not a list of strings (corrupt file)');
  }
  const r = new ByteReader(bytes, FORMAT, keys.end);
  const storages = new Map<string, HostData>();
  for (const key of keys.value as string[]) {
    const info = roots.get(key);
    if (!info)
      throw new TensorFormatError(FORMAT, `storage '${key}' is listed but never referenced (corrupt file)`);
    const count = r.i64(`element count of storage '${key}'`);
    const n = little ? count : byteSwap64(count);
    if (n !== BigInt(info.numel))
      throw new TensorFormatError(
        FORMAT,
        `storage '${key}' has ${n} elements, its header says ${info.numel}`,
      );
    const size = info.numel * HOST_DTYPES[info.dtype].itemsize;
    charge(budget, size, `storage '${key}'`);
    storages.set(key, bytesToTyped(info.dtype, r.take(size, `data of storage '${key}'`), little));
  }
  for (const key of roots.keys())
    if (!storages.has(key))
      throw new TensorFormatError(FORMAT, `storage '${key}' has no data (truncated file?)`);
  if (r.remaining !== 0)
    throw new TensorFormatError(FORMAT, `${r.remaining} unexpected trailing bytes after the last storage`);
  // Every referenced storage was read above.
  return materialize(main.value, (ref) => storages.get(ref.key)!, opts, budget, skipped);
}

function byteSwap64(v: bigint): bigint {
  const b = new DataView(new ArrayBuffer(8));
  b.setBigInt64(0, v, true);
  return b.getBigInt64(0, false);
}

function charge(budget: { left: number }, n: number, what: string): void {
  budget.left -= n;
  if (budget.left < 0) {
    throw new TensorFormatError(
      FORMAT,
      `${what} would exceed the decoding budget (maxBytes); the file claims more data than it plausibly holds`,
    );
  }
}

/**
 * Replace every TensorRef in the object graph by a decoded host tensor, in place (iteratively; cycles
 * are fine). With `opts.only`, TensorRefs whose flattened names all fail it become null instead.
 */
function materialize(
  root: unknown,
  load: (ref: StorageRef) => HostData,
  opts: PthReadOptions,
  budget: { left: number },
  skipped: string[],
): unknown {
  const upcast = opts.upcastHalf ?? true;
  const wanted = opts.only ? wantedRefs(root, opts.only, skipped) : null;
  const done = new Map<TensorRef, HostTensor>();
  const resolve = (v: unknown): unknown => {
    if (!(v instanceof TensorRef)) return v;
    if (wanted && !wanted.has(v)) return null;
    let t = done.get(v);
    if (!t) {
      t = buildTensor(v, load, upcast, budget);
      done.set(v, t);
    }
    return t;
  };
  if (root instanceof TensorRef) return resolve(root);
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const v = todo.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        v[i] = resolve(v[i]);
        todo.push(v[i]);
      }
    } else if (v instanceof PyDict) {
      for (const [k, x] of v) {
        const y = resolve(x);
        if (y !== x) v.set(k, y);
        todo.push(y);
      }
      for (const k of Object.keys(v.attrs)) {
        v.attrs[k] = resolve(v.attrs[k]);
        todo.push(v.attrs[k]);
      }
    } else if (v instanceof PyObject) {
      v.state = resolve(v.state);
      todo.push(v.state, v.listItems, v.dictItems, v.args);
    }
  }
  return root;
}

function buildTensor(
  ref: TensorRef,
  load: (ref: StorageRef) => HostData,
  upcast: boolean,
  budget: { left: number },
): HostTensor {
  const { storage, shape, stride } = ref;
  const what = `tensor of shape [${shape.join(', ')}] in storage '${storage.key}'`;
  if (stride.length !== shape.length)
    throw new TensorFormatError(FORMAT, `${what}: stride [${stride.join(', ')}] does not match the shape`);
  let n: number;
  try {
    n = shapeSize(shape);
  } catch {
    throw new TensorFormatError(FORMAT, `${what}: invalid shape`);
  }
  if (n > storage.viewLength)
    throw new TensorFormatError(FORMAT, `${what}: ${n} elements but its storage holds ${storage.viewLength}`);
  if (ref.offset < 0 || stride.some((s) => s < 0))
    throw new TensorFormatError(FORMAT, `${what}: negative offset or stride`);
  let extent = ref.offset;
  if (n > 0) for (let i = 0; i < shape.length; i++) extent += (shape[i] - 1) * stride[i];
  if (n > 0 && extent >= storage.viewLength) {
    throw new TensorFormatError(
      FORMAT,
      `${what}: offset ${ref.offset} and strides [${stride.join(', ')}] reach element ${extent}, past the storage's ${storage.viewLength}`,
    );
  }
  const src = load(storage);
  const dtype = storage.dtype;
  charge(budget, n * (upcast && HOST_DTYPES[dtype].itemsize === 2 ? 4 : HOST_DTYPES[dtype].itemsize), what);
  const start = storage.viewOffset + ref.offset;
  const contiguous = cStrides(shape).every((s, i) => s === stride[i] || shape[i] === 1);
  let data: HostData;
  if (contiguous) data = src.slice(start, start + n);
  else {
    data = new HOST_DTYPES[dtype].ctor(n);
    gatherStrided(src, start, shape, stride, data);
  }
  const t: HostTensor = { dtype, shape: shape.slice(), data };
  return upcast ? upcastHalf(t) : t;
}

/**
 * Collect every host tensor reachable in an unpickled object, named by the dotted path of dict keys and
 * list indices leading to it (`{"model": {"w": t}}` gives `model.w`; the root itself is named `''`).
 * Reference cycles are skipped; nesting deeper than 256 levels is refused.
 */
export function flattenTensors(root: unknown): HostTensorDict {
  const out: HostTensorDict = {};
  for (const [k, t] of walkLeaves(root, isHostTensor)) {
    if (Object.hasOwn(out, k))
      throw new TensorFormatError(FORMAT, `two tensors flatten to the same name '${k}'`);
    setEntry(out, k, t);
  }
  return out;
}

/** The TensorRefs that {@link flattenTensors} would name with a name passing `only`; the other names go to `skipped`. */
function wantedRefs(root: unknown, only: (name: string) => boolean, skipped: string[]): Set<TensorRef> {
  const out = new Set<TensorRef>();
  for (const [k, ref] of walkLeaves(root, (v): v is TensorRef => v instanceof TensorRef)) {
    if (only(k)) out.add(ref);
    else skipped.push(k);
  }
  return out;
}

/** Leaves reachable through lists and dict items, named by their dotted path, in depth-first order. */
function walkLeaves<T>(root: unknown, isLeaf: (v: unknown) => v is T): [string, T][] {
  const seen = new Set<object>();
  const todo: [string, unknown, number][] = [['', root, 0]];
  const results: [string, T][] = [];
  while (todo.length) {
    const [path, v, depth] = todo.pop()!;
    if (isLeaf(v)) {
      results.push([path, v]);
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    if (depth > 256)
      throw new TensorFormatError(FORMAT, `object nesting deeper than 256 levels at '${path}'`);
    seen.add(v);
    const join = (k: unknown) => (path ? `${path}.${String(k)}` : String(k));
    const kids: [string, unknown, number][] = [];
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) kids.push([join(i), v[i], depth + 1]);
    else if (v instanceof PyDict) for (const [k, x] of v) kids.push([join(k), x, depth + 1]);
    // Reverse so the depth-first stack visits children in their original order.
    todo.push(...kids.reverse());
  }
  return results;
}

/**
 * Write a flat state dict as a torch zip-format `.pth` file, as `torch.save(state_dict, f)` lays it out:
 * `archive/data.pkl` (a protocol-2 pickle of an OrderedDict of `_rebuild_tensor_v2` calls, one storage
 * per tensor keyed '0', '1', ... in dict order), `archive/byteorder`, `archive/data/<key>` (storages in
 * sorted key order, 64-byte aligned) and `archive/version`.
 */
export function serializePth(tensors: HostTensorDict): Uint8Array {
  if (typeof tensors !== 'object' || tensors === null)
    throw new TypeError('serializePth: tensors must be a record of host tensors');
  const items = Object.entries(tensors);
  for (const [k, t] of items) {
    if (!isHostTensor(t))
      throw new TypeError(`serializePth: tensors['${k}'] is not a host tensor ({dtype, shape, data})`);
    if (t.data.length !== shapeSize(t.shape, `serializePth: tensors['${k}']`)) {
      throw new RangeError(
        `serializePth: tensors['${k}'] has ${t.data.length} elements for shape [${t.shape.join(', ')}]`,
      );
    }
  }
  const w = new PickleWriter();
  w.callEmpty('collections', 'OrderedDict');
  if (items.length > 1) w.mark();
  items.forEach(([name, t], i) => {
    w.str(name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.tuple(() => {
      w.tuple(() => {
        w.str('storage');
        w.global('torch', DTYPE_STORAGE[t.dtype]);
        w.str(String(i));
        w.str('cpu');
        w.int(t.data.length);
        return 5;
      });
      w.binpersid();
      w.int(0);
      w.intTuple(t.shape);
      w.intTuple(cStrides(t.shape));
      w.bool(false);
      w.callEmpty('collections', 'OrderedDict');
      return 6;
    });
    w.reduce();
  });
  if (items.length === 1) w.setitem();
  else if (items.length > 1) w.setitems();
  const pkl = w.finish();
  const keys = items.map((_, i) => String(i)).sort();
  const entries = [
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/byteorder', data: new TextEncoder().encode('little') },
    ...keys.map((k) => ({ name: `archive/data/${k}`, data: typedToBytes(items[Number(k)][1].data) })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ];
  return writeZip(entries, { align: 64 });
}
