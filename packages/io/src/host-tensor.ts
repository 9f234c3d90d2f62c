/**
 * `HostTensor`: a plain typed array with a dtype and a shape, the currency of every file-format reader
 * and writer in io/. It has no tfjs dependency, so the formats work before a backend is chosen (and in
 * tools that never load one); `tf-convert.ts` moves host tensors into and out of tfjs.
 *
 * Data is always C-ordered (row major) and in the platform's byte order. Half-precision types
 * (`float16`, `bfloat16`) keep their raw 16-bit patterns in a `Uint16Array`; `int64` uses a
 * `BigInt64Array`; `bool` a `Uint8Array` of 0 / 1.
 */

/** Element types a host tensor can hold. */
export type HostDType =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** The typed array behind each {@link HostDType}. */
export interface HostDataMap {
  float64: Float64Array;
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Any host tensor's data array. */
export type HostData = HostDataMap[HostDType];

/** A dense, C-ordered tensor in host memory. `data.length` equals the product of `shape`. */
export interface HostTensor<D extends HostDType = HostDType> {
  dtype: D;
  shape: number[];
  data: HostDataMap[D];
}

/** A named collection of host tensors (a state dict). */
export type HostTensorDict = Record<string, HostTensor>;

/** What a tensor file holds: named tensors and string metadata (empty for formats without any). */
export interface TensorFileContents {
  tensors: HostTensorDict;
  metadata: Record<string, string>;
}

/**
 * Set an own, enumerable property even for names such as `__proto__` (which a plain assignment would
 * turn into a prototype change). File formats may use any string as a tensor name.
 */
export function setEntry<V>(obj: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

type TypedCtor = {
  new (length: number): HostData;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): HostData;
  BYTES_PER_ELEMENT: number;
};

/** Bytes per element and the typed-array constructor of each dtype. */
export const HOST_DTYPES: Readonly<Record<HostDType, { itemsize: number; ctor: TypedCtor }>> = {
  float64: { itemsize: 8, ctor: Float64Array as unknown as TypedCtor },
  float32: { itemsize: 4, ctor: Float32Array as unknown as TypedCtor },
  float16: { itemsize: 2, ctor: Uint16Array as unknown as TypedCtor },
  bfloat16: { itemsize: 2, ctor: Uint16Array as unknown as TypedCtor },
  int64: { itemsize: 8, ctor: BigInt64Array as unknown as TypedCtor },
  int32: { itemsize: 4, ctor: Int32Array as unknown as TypedCtor },
  int16: { itemsize: 2, ctor: Int16Array as unknown as TypedCtor },
  int8: { itemsize: 1, ctor: Int8Array as unknown as TypedCtor },
  uint8: { itemsize: 1, ctor: Uint8Array as unknown as TypedCtor },
  bool: { itemsize: 1, ctor: Uint8Array as unknown as TypedCtor },
};

/** Whether `d` names a {@link HostDType}. */
export function isHostDType(d: unknown): d is HostDType {
  return typeof d === 'string' && Object.hasOwn(HOST_DTYPES, d);
}

/**
 * Number of elements of `shape`, checking every dimension is a non-negative safe integer and the
 * product stays below 2^53. `what` names the tensor in the error.
 */
export function shapeSize(shape: readonly number[], what = 'shape'): number {
  if (!Array.isArray(shape))
    throw new TypeError(`${what}: shape must be an array of integers, got ${typeof shape}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(
        `${what}: shape [${shape.join(', ')}] has an invalid dimension ${String(d)} (expected integers >= 0)`,
      );
    }
    n *= d;
    if (!Number.isSafeInteger(n))
      throw new RangeError(`${what}: shape [${shape.join(', ')}] has more than 2^53 elements`);
  }
  return n;
}

/**
 * Build a host tensor, checking that `data` is the right typed array for `dtype` and holds exactly
 * `prod(shape)` elements. The array is used as is (not copied).
 */
export function hostTensor<D extends HostDType>(
  dtype: D,
  shape: number[],
  data: HostDataMap[D],
): HostTensor<D> {
  if (!isHostDType(dtype))
    throw new TypeError(
      `hostTensor: unknown dtype '${String(dtype)}' (expected one of ${Object.keys(HOST_DTYPES).join(', ')})`,
    );
  const n = shapeSize(shape, 'hostTensor');
  const ctor = HOST_DTYPES[dtype].ctor;
  if (!(data instanceof (ctor as unknown as typeof Uint8Array))) {
    throw new TypeError(
      `hostTensor: data for dtype ${dtype} must be a ${ctor.name}, got ${data?.constructor?.name ?? typeof data}`,
    );
  }
  if (data.length !== n) {
    throw new RangeError(
      `hostTensor: shape [${shape.join(', ')}] needs ${n} elements, data has ${data.length}`,
    );
  }
  return { dtype, shape: shape.slice(), data };
}

/** Whether `v` looks like a {@link HostTensor} (dtype, shape array and a typed array of matching length). */
export function isHostTensor(v: unknown): v is HostTensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<HostTensor>;
  return isHostDType(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/** Zero-filled host tensor. */
export function zerosHost<D extends HostDType>(dtype: D, shape: number[]): HostTensor<D> {
  const n = shapeSize(shape, 'zerosHost');
  return { dtype, shape: shape.slice(), data: new HOST_DTYPES[dtype].ctor(n) as HostDataMap[D] };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decode one IEEE half-precision bit pattern. */
export function float16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Encode a number as IEEE half precision, rounding to nearest even (overflow gives +-Infinity). */
export function numberToFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit bit in and round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Decode one bfloat16 bit pattern. */
export function bfloat16BitsToNumber(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** Encode a number as bfloat16, rounding to nearest even (NaN stays a quiet NaN). */
export function numberToBfloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Convert a host tensor to another dtype (always a new array). Float to integer truncates toward
 * zero; integer targets check the range and throw naming `what` when a value does not fit;
 * `float64`/`int64` sources are narrowed with the same range check for int targets.
 */
export function castHostTensor<D extends HostDType>(
  t: HostTensor,
  dtype: D,
  what = 'castHostTensor',
): HostTensor<D> {
  if (!isHostDType(dtype)) throw new TypeError(`${what}: unknown target dtype '${String(dtype)}'`);
  const n = t.data.length;
  const out = new HOST_DTYPES[dtype].ctor(n) as HostDataMap[D];
  const get = elementReader(t);
  if (dtype === 'int64') {
    const o = out as BigInt64Array;
    if (t.dtype === 'int64') o.set(t.data as BigInt64Array);
    else
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (!Number.isFinite(v))
          throw new RangeError(`${what}: element ${i} (${v}) cannot be stored as int64`);
        o[i] = BigInt(Math.trunc(v));
      }
    return { dtype, shape: t.shape.slice(), data: out };
  }
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const enc = dtype === 'float16' ? numberToFloat16Bits : numberToBfloat16Bits;
    const o = out as Uint16Array;
    if (t.dtype === dtype) o.set(t.data as Uint16Array);
    else for (let i = 0; i < n; i++) o[i] = enc(get(i));
    return { dtype, shape: t.shape.slice(), data: out };
  }
  const range = INT_RANGES[dtype];
  const o = out as Exclude<HostData, BigInt64Array>;
  if (t.dtype === 'int64' && dtype === 'bool') {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < n; i++) o[i] = src[i] !== 0n ? 1 : 0;
  } else if (t.dtype === 'int64' && range) {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const b = src[i];
      if (b < BigInt(range[0]) || b > BigInt(range[1])) {
        throw new RangeError(
          `${what}: element ${i} (${b}) is outside the ${dtype} range [${range[0]}, ${range[1]}]`,
        );
      }
      o[i] = Number(b);
    }
  } else if (range) {
    for (let i = 0; i < n; i++) {
      const v = get(i);
      const iv = dtype === 'bool' ? (v !== 0 ? 1 : 0) : Math.trunc(v);
      if (!(iv >= range[0] && iv <= range[1])) {
        throw new RangeError(
          `${what}: element ${i} (${v}) is outside the ${dtype} range [${range[0]}, ${range[1]}]`,
        );
      }
      o[i] = iv;
    }
  } else {
    for (let i = 0; i < n; i++) o[i] = get(i);
  }
  return { dtype, shape: t.shape.slice(), data: out };
}

const INT_RANGES: Partial<Record<HostDType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  int16: [-32768, 32767],
  int8: [-128, 127],
  uint8: [0, 255],
  bool: [0, 1],
};

/** A function reading element i of `t` as a JS number (int64 through Number(), half types decoded). */
export function elementReader(t: HostTensor): (i: number) => number {
  const d = t.data;
  if (t.dtype === 'float16') return (i) => float16BitsToNumber((d as Uint16Array)[i]);
  if (t.dtype === 'bfloat16') return (i) => bfloat16BitsToNumber((d as Uint16Array)[i]);
  if (t.dtype === 'int64') return (i) => Number((d as BigInt64Array)[i]);
  const a = d as Float32Array;
  return (i) => a[i];
}

/** float16 / bfloat16 tensors decoded to float32 (new array); other dtypes are returned unchanged. */
export function upcastHalf(t: HostTensor): HostTensor {
  return t.dtype === 'float16' || t.dtype === 'bfloat16' ? castHostTensor(t, 'float32') : t;
}

/**
 * Permute the axes of a host tensor (like `numpy.transpose(t, perm)`), returning a new C-ordered
 * tensor of shape `perm.map(i => shape[i])`.
 */
export function permuteHost<D extends HostDType>(t: HostTensor<D>, perm: readonly number[]): HostTensor<D> {
  const r = t.shape.length;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new RangeError(
      `permuteHost: perm [${perm.join(', ')}] is not a permutation of the ${r} axes of shape [${t.shape.join(', ')}]`,
    );
  }
  const outShape = perm.map((p) => t.shape[p]);
  const inStrides = cStrides(t.shape);
  const strides = perm.map((p) => inStrides[p]);
  const out = new HOST_DTYPES[t.dtype].ctor(t.data.length) as HostDataMap[D];
  gatherStrided(t.data, 0, outShape, strides, out);
  return { dtype: t.dtype, shape: outShape, data: out };
}

/** C-order (row-major) element strides of `shape`. */
export function cStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Copy the elements of a strided view of `src` (element offset, shape, strides) into `out` in C order.
 * The caller checks bounds; this is the inner loop of tensor rebuilding and transposition.
 */
export function gatherStrided(
  src: HostData,
  offset: number,
  shape: readonly number[],
  strides: readonly number[],
  out: HostData,
): void {
  const r = shape.length;
  const n = out.length;
  if (n === 0) return;
  const s = src as unknown as number[];
  const o = out as unknown as number[];
  if (r === 0) {
    o[0] = s[offset];
    return;
  }
  const idx = new Array<number>(r).fill(0);
  const last = r - 1;
  const lastDim = shape[last];
  const lastStride = strides[last];
  let base = offset;
  for (let k = 0; k < n; k += lastDim) {
    for (let j = 0, p = base; j < lastDim; j++, p += lastStride) o[k + j] = s[p];
    for (let a = last - 1; a >= 0; a--) {
      idx[a]++;
      base += strides[a];
      if (idx[a] < shape[a]) break;
      base -= strides[a] * shape[a];
      idx[a] = 0;
    }
  }
}
