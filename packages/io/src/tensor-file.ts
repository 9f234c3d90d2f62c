/**
 * One entry point for every tensor file format: detect it (by extension or by content), read it into
 * host tensors, write host tensors, and convert between formats in memory (what `ldmae convert` runs).
 */
import { TensorFormatError } from './bytes.js';
import {
  castHostTensor,
  type HostTensor,
  type HostTensorDict,
  isHostTensor,
  setEntry,
  type TensorFileContents,
} from './host-tensor.js';
import { parseNpy, parseNpz, serializeNpy, serializeNpz } from './npy.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { isZipBytes, parsePth, serializePth } from './torch.js';
import { readZip } from './zip.js';

/** The tensor file formats this library reads and writes. */
export type TensorFileFormat = 'safetensors' | 'pth' | 'npz' | 'npy';

const EXTENSIONS: Record<string, TensorFileFormat> = {
  safetensors: 'safetensors',
  pth: 'pth',
  pt: 'pth',
  bin: 'pth',
  ckpt: 'pth',
  npz: 'npz',
  npy: 'npy',
};

/**
 * The format named by a file's extension: `.safetensors`; `.pth`, `.pt`, `.bin`, `.ckpt` (torch.save);
 * `.npz`; `.npy`. Throws for anything else.
 */
export function formatFromPath(path: string): TensorFileFormat {
  const m = /\.([A-Za-z0-9]+)$/.exec(String(path));
  const f = m ? EXTENSIONS[m[1].toLowerCase()] : undefined;
  if (!f)
    throw new RangeError(
      `formatFromPath: cannot tell the tensor format of '${path}' (expected .safetensors, .pth, .pt, .bin, .ckpt, .npz or .npy)`,
    );
  return f;
}

/** Guess the format from the first bytes: npy magic, a zip (torch if it holds data.pkl, else npz), a legacy torch pickle, or a safetensors header. */
export function detectTensorFormat(bytes: Uint8Array): TensorFileFormat | undefined {
  if (bytes.length >= 6 && bytes[0] === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY')
    return 'npy';
  if (isZipBytes(bytes)) {
    try {
      const names: string[] = [];
      readZip(bytes, 'zip', {
        filter: (n) => {
          names.push(n);
          return false;
        },
      });
      return names.some((n) => n.endsWith('data.pkl')) ? 'pth' : 'npz';
    } catch {
      return undefined;
    }
  }
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) return 'pth';
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0)
    return 'safetensors';
  return undefined;
}

/** Options of {@link parseTensorFile}. */
export interface TensorReadOptions {
  /** Decode float16 / bfloat16 to float32 (default true). */
  upcastHalf?: boolean;
  /** `.pth` only: 'stub' keeps non-allowed pickle globals as inert placeholders instead of failing. */
  unknownGlobals?: 'error' | 'stub';
  /** `.pth` only: bound on decoded tensor bytes (default 4x the file size + 1 MiB). */
  maxBytes?: number;
  /**
   * `.pth` (zip format) and `.npz`: bound on the bytes inflated from deflated zip entries, checked
   * against their declared sizes before inflating (default 1 GiB + 32 x the file size).
   */
  maxInflatedBytes?: number;
  /**
   * Keep only tensors under this dotted prefix and strip it, e.g. `'model'` for a checkpoint saved as
   * `{"model": state_dict, "optimizer": ...}`. Throws if nothing matches.
   */
  select?: string;
}

/**
 * Read a tensor file held in memory. `format` defaults to {@link detectTensorFormat}'s guess. A `.npy`
 * file gives a single tensor named `arr_0` (numpy's name for positional arrays).
 */
export function parseTensorFile(
  bytes: Uint8Array,
  format?: TensorFileFormat,
  opts: TensorReadOptions = {},
): TensorFileContents {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parseTensorFile: bytes must be a Uint8Array, got ${typeof bytes}`);
  const f = format ?? detectTensorFormat(bytes);
  if (!f)
    throw new TensorFormatError('tensor file', 'unrecognised format (not safetensors, torch, npz or npy)');
  let out: TensorFileContents;
  let skipped: readonly string[] = [];
  const prefix = opts.select === undefined ? undefined : selectPrefixDot(opts.select);
  if (f === 'safetensors') out = parseSafetensors(bytes, opts);
  else if (f === 'pth') {
    // With select, the storages of tensors outside the prefix are never read.
    const only = prefix === undefined ? undefined : (name: string) => name.startsWith(prefix);
    const pth = parsePth(bytes, { ...opts, only });
    const { tensors, metadata } = pth;
    skipped = pth.skipped;
    out = { tensors, metadata };
  } else if (f === 'npz') out = parseNpz(bytes, opts);
  else if (f === 'npy') out = { tensors: { arr_0: parseNpy(bytes, opts) }, metadata: {} };
  else throw new RangeError(`parseTensorFile: unknown format '${String(f)}'`);
  if (opts.select !== undefined)
    out = { tensors: selectPrefix(out.tensors, opts.select, skipped), metadata: out.metadata };
  return out;
}

function selectPrefixDot(prefix: string): string {
  return prefix.endsWith('.') ? prefix : `${prefix}.`;
}

function selectPrefix(tensors: HostTensorDict, prefix: string, skipped: readonly string[]): HostTensorDict {
  const p = selectPrefixDot(prefix);
  const out: HostTensorDict = {};
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith(p)) setEntry(out, k.slice(p.length), t);
  if (Object.keys(out).length === 0) {
    const names = [...Object.keys(tensors), ...skipped];
    const tops = [...new Set(names.map((k) => k.split('.')[0]))].slice(0, 10);
    throw new RangeError(
      `select: no tensor under '${prefix}' (top-level names: ${tops.join(', ') || 'none'})`,
    );
  }
  return out;
}

/** Options of {@link serializeTensorFile}. */
export interface TensorWriteOptions {
  /** `.npz` only: deflate entries like `np.savez_compressed` (default false, like `np.savez`). */
  compress?: boolean;
}

/**
 * Write tensors in `format`. Metadata is kept by safetensors only (other formats have no place for it).
 * `.npy` takes exactly one tensor.
 */
export function serializeTensorFile(
  contents: TensorFileContents | HostTensorDict,
  format: TensorFileFormat,
  opts: TensorWriteOptions = {},
): Uint8Array {
  const { tensors, metadata } = asContents(contents);
  switch (format) {
    case 'safetensors':
      return serializeSafetensors(tensors, metadata);
    case 'pth':
      return serializePth(tensors);
    case 'npz':
      return serializeNpz(tensors, opts);
    case 'npy': {
      const vals = Object.values(tensors);
      if (vals.length !== 1)
        throw new RangeError(`serializeTensorFile: a .npy file holds exactly one tensor, got ${vals.length}`);
      return serializeNpy(vals[0]);
    }
    default:
      throw new RangeError(
        `serializeTensorFile: unknown format '${String(format)}' (expected safetensors, pth, npz or npy)`,
      );
  }
}

function asContents(c: TensorFileContents | HostTensorDict): TensorFileContents {
  if (typeof c !== 'object' || c === null)
    throw new TypeError('serializeTensorFile: expected tensors or {tensors, metadata}');
  const maybe = c as Partial<TensorFileContents>;
  if (typeof maybe.tensors === 'object' && maybe.tensors !== null && !isHostTensor(maybe.tensors)) {
    return {
      tensors: maybe.tensors as HostTensorDict,
      metadata: (maybe.metadata as Record<string, string>) ?? {},
    };
  }
  return { tensors: c as HostTensorDict, metadata: {} };
}

/**
 * Convert a tensor file between formats in memory. Half-precision tensors stay half where the target
 * supports them (numpy has no bfloat16, so those become float32 in npz / npy); safetensors metadata is
 * carried over when both sides are safetensors.
 */
export function convertTensorFile(
  inBytes: Uint8Array,
  inFormat: TensorFileFormat | undefined,
  outFormat: TensorFileFormat,
  opts: TensorReadOptions & TensorWriteOptions = {},
): Uint8Array {
  const contents = parseTensorFile(inBytes, inFormat, { upcastHalf: false, ...opts });
  if (outFormat === 'npz' || outFormat === 'npy') {
    for (const [k, t] of Object.entries(contents.tensors))
      if (t.dtype === 'bfloat16') setEntry<HostTensor>(contents.tensors, k, castHostTensor(t, 'float32'));
  }
  return serializeTensorFile(contents, outFormat, opts);
}
