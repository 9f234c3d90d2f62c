/**
 * The IDX format of MNIST and Fashion-MNIST (plain or gzipped): a 4-byte magic (0, 0, type,
 * rank), rank big-endian uint32 dimensions, then big-endian data.
 */
import { type HostTensor, shapeSize } from '@ldmae/core';
import { gunzipSync } from 'fflate';

type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

const IDX_TYPES: Record<number, IdxDType> = {
  8: 'uint8',
  9: 'int8',
  11: 'int16',
  12: 'int32',
  13: 'float32',
  14: 'float64',
};

const CTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

/** True when `bytes` starts with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parse IDX bytes (gunzipped first when they start with the gzip magic).
 * @param bytes the file contents
 * @param name what to call the input in errors (a file name)
 * @returns a host tensor; an images file gives shape [N, rows, cols], a labels file [N]
 */
export function readIdx(bytes: Uint8Array, name = 'IDX data'): HostTensor {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`readIdx: bytes must be a Uint8Array (${name})`);
  let b = bytes;
  if (isGzip(b)) {
    try {
      b = gunzipSync(b);
    } catch (e) {
      throw new Error(`readIdx: ${name} starts like gzip but does not decompress (${(e as Error).message})`);
    }
  }
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0) {
    throw new Error(`readIdx: ${name} is not an IDX file (expected magic 00 00 <type> <rank>)`);
  }
  const dtype = IDX_TYPES[b[2]];
  if (!dtype) throw new Error(`readIdx: ${name} has unknown IDX element type 0x${b[2].toString(16)}`);
  const rank = b[3];
  if (b.length < 4 + 4 * rank) throw new Error(`readIdx: ${name} is truncated inside its header`);
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * rank;
  const n = shapeSize(shape);
  const size = CTORS[dtype].BYTES_PER_ELEMENT;
  if (b.length - offset !== n * size) {
    throw new Error(
      `readIdx: ${name} has ${b.length - offset} data bytes, shape [${shape}] of ${dtype} needs ${n * size}`,
    );
  }
  const data = new CTORS[dtype](n);
  if (size === 1) (data as Uint8Array).set(b.subarray(offset));
  else {
    for (let i = 0; i < n; i++) {
      const o = offset + i * size;
      data[i] =
        dtype === 'int16'
          ? view.getInt16(o, false)
          : dtype === 'int32'
            ? view.getInt32(o, false)
            : dtype === 'float32'
              ? view.getFloat32(o, false)
              : view.getFloat64(o, false);
    }
  }
  return { dtype, shape, data } as HostTensor;
}

/** Encode a host tensor as (uncompressed) IDX bytes: uint8, int8, int16, int32, float32 or float64. */
export function writeIdx(array: HostTensor): Uint8Array {
  const code = Object.entries(IDX_TYPES).find(([, t]) => t === array?.dtype)?.[0];
  if (code === undefined) {
    throw new Error(
      `writeIdx: dtype ${array?.dtype} has no IDX type (use uint8, int8, int16, int32, float32, float64)`,
    );
  }
  const n = shapeSize(array.shape, 'writeIdx');
  if (array.data.length !== n)
    throw new RangeError(
      `writeIdx: shape [${array.shape}] needs ${n} elements, data has ${array.data.length}`,
    );
  if (array.shape.length > 255) throw new RangeError('writeIdx: array rank must be at most 255');
  const size = array.data.BYTES_PER_ELEMENT;
  const header = 4 + 4 * array.shape.length;
  const out = new Uint8Array(header + n * size);
  const view = new DataView(out.buffer);
  out[2] = Number(code);
  out[3] = array.shape.length;
  array.shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  const d = array.data as ArrayLike<number>;
  for (let i = 0; i < n; i++) {
    const o = header + i * size;
    const v = d[i];
    switch (array.dtype) {
      case 'uint8':
        out[o] = v;
        break;
      case 'int8':
        view.setInt8(o, v);
        break;
      case 'int16':
        view.setInt16(o, v, false);
        break;
      case 'int32':
        view.setInt32(o, v, false);
        break;
      case 'float32':
        view.setFloat32(o, v, false);
        break;
      default:
        view.setFloat64(o, v, false);
    }
  }
  return out;
}
