import { deflateSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  type HostTensor,
  parseNpy,
  parseNpz,
  parseTensorFile,
  serializeNpy,
  serializeNpz,
  TensorFormatError,
} from '../src/index.node.js';
import { b, f32le, f64le, u16, u32, u64 } from './bytes.js';

/**
 * A .npy v1.0 file as numpy.lib.format writes it: magic, version, uint16 header length, the dict
 * literal, growth-axis spaces (21 - digits of the first dimension), then spaces and '\n' so the
 * header ends on a multiple of 64 bytes (at least one space of padding).
 */
function npyBytes(descr: string, shape: number[], data: number[], fortran = false): Uint8Array {
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeRepr}, }`;
  if (shape.length) header += ' '.repeat(21 - String(shape[0]).length);
  const padlen = 64 - ((10 + header.length + 1) % 64);
  return b(0x93, 'NUMPY', 1, 0, u16(header.length + 1 + padlen), header, ' '.repeat(padlen), '\n', data);
}

describe('npy', () => {
  it('matches numpy.save byte for byte', () => {
    // np.save of np.arange(6, dtype='<f4').reshape(2, 3): a 128-byte header (checked against numpy 2.x).
    const a: HostTensor = { dtype: 'float32', shape: [2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) };
    const expected = npyBytes('<f4', [2, 3], f32le(0, 1, 2, 3, 4, 5));
    expect(expected.length).toBe(128 + 24);
    expect(new TextDecoder().decode(expected.subarray(10, 69))).toBe(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
    );
    expect(serializeNpy(a)).toEqual(expected);
    const cases: [HostTensor, string, number[]][] = [
      [{ dtype: 'float64', shape: [], data: new Float64Array([3.5]) }, '<f8', f64le(3.5)],
      [
        { dtype: 'int64', shape: [3], data: new BigInt64Array([1n, -2n, 3n]) },
        '<i8',
        [...u64(1), ...u64(2n ** 64n - 2n), ...u64(3)],
      ],
      [{ dtype: 'uint8', shape: [0, 2], data: new Uint8Array(0) }, '|u1', []],
      [{ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }, '|b1', [1, 0]],
      [{ dtype: 'int32', shape: [1234567, 0], data: new Int32Array(0) }, '<i4', []],
      [{ dtype: 'float16', shape: [1, 1], data: new Uint16Array([0x3c00]) }, '<f2', [0x00, 0x3c]],
      [{ dtype: 'int8', shape: [2], data: new Int8Array([-1, 1]) }, '|i1', [0xff, 1]],
    ];
    for (const [t, descr, data] of cases) {
      const want = npyBytes(descr, t.shape, data);
      expect(serializeNpy(t), descr).toEqual(want);
      expect(parseNpy(want, { upcastHalf: false }), descr).toEqual(t);
    }
  });

  it('switches to format 2.0 when the header outgrows 64 KiB', () => {
    const shape = Array.from({ length: 22000 }, () => 1);
    const bytes = serializeNpy({ dtype: 'uint8', shape, data: new Uint8Array([42]) });
    expect(bytes[6]).toBe(2);
    const hlen = new DataView(bytes.buffer).getUint32(8, true);
    expect((12 + hlen) % 64).toBe(0);
    expect(bytes[12 + hlen - 1]).toBe(0x0a);
    expect(parseNpy(bytes).shape).toEqual(shape);
  });

  it('reads Fortran order, big-endian, Python 2 style longs and float16 upcast', () => {
    // np.arange(6.).reshape(2, 3) in Fortran order: memory holds columns [0, 3, 1, 4, 2, 5].
    const f = parseNpy(npyBytes('<f8', [2, 3], f64le(0, 3, 1, 4, 2, 5), true));
    expect(f).toEqual({ dtype: 'float64', shape: [2, 3], data: new Float64Array([0, 1, 2, 3, 4, 5]) });
    const be = parseNpy(npyBytes('>i4', [2], [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]));
    expect(be.data).toEqual(new Int32Array([258, -2]));
    // numpy under Python 2 wrote shapes as longs: (1L,).
    const text = "{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), }\n";
    const legacy = b(0x93, 'NUMPY', 1, 0, u16(text.length), text, f32le(2.5));
    expect(parseNpy(legacy).data).toEqual(new Float32Array([2.5]));
    const half = parseNpy(npyBytes('<f2', [2], [0x00, 0x3c, 0x00, 0xc0]));
    expect(half).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) });
  });

  it('refuses object arrays, structured dtypes, bad headers and wrong sizes with clear errors', () => {
    const bad = (bytes: Uint8Array, re: RegExp) => {
      expect(() => parseNpy(bytes)).toThrow(TensorFormatError);
      expect(() => parseNpy(bytes)).toThrow(re);
    };
    bad(
      npyBytes('|O', [1], [0, 0, 0, 0, 0, 0, 0, 0]),
      /dtype '\|O' is not supported.*object arrays are refused/,
    );
    bad(npyBytes('<u2', [1], [0, 0]), /dtype '<u2' is not supported/);
    const structured = "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
    bad(
      b(0x93, 'NUMPY', 1, 0, u16(structured.length), structured, f32le(1)),
      /unsupported value starting with "\["/,
    );
    const evil = "{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,), }\n";
    bad(b(0x93, 'NUMPY', 1, 0, u16(evil.length), evil), /malformed header/);
    bad(npyBytes('<f4', [3], f32le(1, 2)), /needs 12 data bytes, the file has 8 \(truncated\)/);
    bad(npyBytes('<f4', [1], f32le(1, 2)), /trailing bytes/);
    bad(npyBytes('<f4', [2 ** 40, 2 ** 40], []), /invalid shape/);
    bad(b('NUMPY!!'), /bad magic/);
    bad(b(0x93, 'NUMPY', 9, 0), /unsupported .npy version 9/);
    bad(b(0x93, 'NUMPY', 1, 0, u16(500), '{}'), /truncated or corrupt: header needs 500 bytes/);
    expect(() => serializeNpy({ dtype: 'bfloat16', shape: [1], data: new Uint16Array(1) })).toThrow(
      /numpy has no bfloat16/,
    );
  });
});

/** A zip archive assembled from the APPNOTE spec: local headers, data, central directory, end record. */
function zipBytes(
  files: { name: string; data: Uint8Array; deflate?: boolean; zip64Local?: boolean }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let off = 0;
  for (const f of files) {
    const body = f.deflate ? deflateSync(f.data) : f.data;
    const method = f.deflate ? 8 : 0;
    const crc = crc32(f.data);
    // numpy's savez writes zip64 local headers (sizes 0xffffffff plus a zip64 extra field).
    const extra = f.zip64Local ? b(u16(1), u16(16), u64(f.data.length), u64(body.length)) : b();
    const sizes = f.zip64Local
      ? [...u32(0xffffffff), ...u32(0xffffffff)]
      : [...u32(body.length), ...u32(f.data.length)];
    const local = b(
      u32(0x04034b50),
      u16(45),
      u16(0),
      u16(method),
      u16(0),
      u16(0x21),
      u32(crc),
      sizes,
      u16(f.name.length),
      u16(extra.length),
      f.name,
      extra,
    );
    parts.push(local, body);
    central.push(
      b(
        u32(0x02014b50),
        u16(45),
        u16(45),
        u16(0),
        u16(method),
        u16(0),
        u16(0x21),
        u32(crc),
        u32(body.length),
        u32(f.data.length),
      ),
      b(u16(f.name.length), u16(0), u16(0), u16(0), u16(0), u32(0), u32(off), f.name),
    );
    off += local.length + body.length;
  }
  const cd = b(...central);
  return b(
    ...parts,
    cd,
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(files.length),
    u16(files.length),
    u32(cd.length),
    u32(off),
    u16(0),
  );
}

describe('npz', () => {
  const mu = npyBytes('<f8', [3], f64le(1, 2, 3));
  const sigma = npyBytes('<f8', [2, 2], f64le(1, 0.5, 0.5, 2));
  const images = npyBytes('|u1', [2, 1, 1, 3], [0, 1, 2, 253, 254, 255]);

  it('reads ADM-style statistics (mu, sigma, arr_0) stored, zip64-local and deflated', () => {
    const variants = [
      zipBytes([
        { name: 'mu.npy', data: mu },
        { name: 'sigma.npy', data: sigma },
        { name: 'arr_0.npy', data: images },
      ]),
      zipBytes([
        { name: 'mu.npy', data: mu, zip64Local: true },
        { name: 'sigma.npy', data: sigma, zip64Local: true },
        { name: 'arr_0.npy', data: images, zip64Local: true },
      ]),
      zipBytes([
        { name: 'mu.npy', data: mu, deflate: true },
        { name: 'sigma.npy', data: sigma, deflate: true },
        { name: 'arr_0.npy', data: images, deflate: true },
      ]),
      zipSync({ 'mu.npy': mu, 'sigma.npy': [sigma, { level: 9 }], 'arr_0.npy': images }),
    ];
    for (const z of variants) {
      const { tensors } = parseNpz(z);
      expect(Object.keys(tensors).sort()).toEqual(['arr_0', 'mu', 'sigma']);
      expect(tensors.mu).toEqual({ dtype: 'float64', shape: [3], data: new Float64Array([1, 2, 3]) });
      expect(tensors.sigma.data).toEqual(new Float64Array([1, 0.5, 0.5, 2]));
      expect(tensors.arr_0).toEqual({
        dtype: 'uint8',
        shape: [2, 1, 1, 3],
        data: new Uint8Array([0, 1, 2, 253, 254, 255]),
      });
      expect(parseTensorFile(z).tensors.mu.shape).toEqual([3]);
    }
  });

  it('round-trips stored and compressed archives', () => {
    const tensors: Record<string, HostTensor> = {
      mu: { dtype: 'float64', shape: [4], data: new Float64Array([0.1, 0.2, 0.3, 0.4]) },
      ids: { dtype: 'int64', shape: [2, 2], data: new BigInt64Array([1n, 2n, 3n, -4n]) },
      'nested/x': { dtype: 'float32', shape: [1000], data: new Float32Array(1000).fill(0.25) },
    };
    const stored = serializeNpz(tensors);
    const packed = serializeNpz(tensors, { compress: true });
    expect(packed.length).toBeLessThan(stored.length / 4);
    for (const z of [stored, packed]) expect(parseNpz(z).tensors).toEqual(tensors);
    // Stored entries hold the exact .npy bytes numpy would write.
    const body = npyBytes('<f8', [4], f64le(0.1, 0.2, 0.3, 0.4));
    const at = stored.indexOf(0x93);
    expect(stored.subarray(at, at + body.length)).toEqual(body);
  });

  it('refuses corrupt archives: CRC mismatch, impossible deflate ratio, truncation, encryption', () => {
    const good = zipBytes([{ name: 'mu.npy', data: mu }]);
    const flipped = good.slice();
    flipped[good.length - 22 - 52 + 10] ^= 0x01; // the central directory's compression method
    expect(() => parseNpz(flipped)).toThrow(TensorFormatError);
    expect(() => parseNpz(flipped)).toThrow(/compression method 1/);
    const crcBad = zipBytes([{ name: 'mu.npy', data: mu }]);
    crcBad[90 + 10] ^= 0x40; // inside the stored data
    expect(() => parseNpz(crcBad)).toThrow(/CRC-32 mismatch in zip entry 'mu.npy'/);
    const bomb = zipBytes([{ name: 'mu.npy', data: mu, deflate: true }]);
    // Claim 4 GB uncompressed in the central directory (offset of the usize field of entry 0).
    const cdStart = new DataView(bomb.buffer).getUint32(bomb.length - 6, true);
    new DataView(bomb.buffer).setUint32(cdStart + 24, 0xfffffff0, true);
    expect(() => parseNpz(bomb)).toThrow(/impossible ratio/);
    expect(() => parseNpz(good.subarray(0, good.length - 30))).toThrow(
      /no end-of-central-directory record|truncated/,
    );
    const enc = good.slice();
    new DataView(enc.buffer).setUint16(cdStart0(enc) + 8, 1, true);
    expect(() => parseNpz(enc)).toThrow(/encrypted/);
  });
});

function cdStart0(zip: Uint8Array): number {
  return new DataView(zip.buffer, zip.byteOffset).getUint32(zip.length - 6, true);
}
