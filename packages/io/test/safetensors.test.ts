import { describe, expect, it } from 'vitest';
import {
  castHostTensor,
  type HostTensor,
  parseSafetensors,
  parseSafetensorsHeader,
  serializeSafetensors,
  TensorFormatError,
} from '../src/index.node.js';
import { b, f32le, u64 } from './bytes.js';

/** A safetensors file assembled from the spec: u64 header length, JSON padded with spaces to 8, data. */
function handMade(header: string, data: number[]): Uint8Array {
  const pad = (8 - (header.length % 8)) % 8;
  return b(u64(header.length + pad), header, ' '.repeat(pad), data);
}

describe('safetensors', () => {
  it('writes the reference implementation bytes (its own test vectors)', () => {
    // safetensors' Rust test_serialization: "attn.0", F32, shape [1, 2, 3], values 0..5.
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    const expected = handMade(json, f32le(0, 1, 2, 3, 4, 5));
    expect(json.length).toBe(64);
    const t: HostTensor = { dtype: 'float32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) };
    expect(serializeSafetensors({ 'attn.0': t })).toEqual(expected);
    // test_empty with metadata {"framework": "pt"}: 35 bytes of JSON padded to 40.
    expect(serializeSafetensors({}, { framework: 'pt' })).toEqual(
      handMade('{"__metadata__":{"framework":"pt"}}', []),
    );
    expect(serializeSafetensors({})).toEqual(b(u64(8), '{}      '));
  });

  it('orders tensors by descending dtype alignment, then name, as the Python writer', () => {
    const bytes = serializeSafetensors(
      {
        z8: { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        b32: { dtype: 'float32', shape: [1], data: new Float32Array([2]) },
        a32: { dtype: 'float32', shape: [1], data: new Float32Array([1]) },
        i64: { dtype: 'int64', shape: [1], data: new BigInt64Array([-5n]) },
        h: { dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) },
      },
      { b: '2', a: '1' },
    );
    const json =
      '{"__metadata__":{"a":"1","b":"2"},' +
      '"i64":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"a32":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"b32":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
      '"h":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},' +
      '"z8":{"dtype":"U8","shape":[3],"data_offsets":[18,21]}}';
    const data = [...u64(2n ** 64n - 5n), ...f32le(1, 2), 0x00, 0x3c, 1, 2, 3];
    expect(bytes).toEqual(handMade(json, data));
  });

  it('reads a hand-made file with every dtype and upcasts half types to float32', () => {
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"f64":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},' +
      '"i64":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},' +
      '"f32":{"dtype":"F32","shape":[2,1],"data_offsets":[24,32]},' +
      '"i32":{"dtype":"I32","shape":[1],"data_offsets":[32,36]},' +
      '"f16":{"dtype":"F16","shape":[2],"data_offsets":[36,40]},' +
      '"bf16":{"dtype":"BF16","shape":[2],"data_offsets":[40,44]},' +
      '"i16":{"dtype":"I16","shape":[1],"data_offsets":[44,46]},' +
      '"u8":{"dtype":"U8","shape":[2],"data_offsets":[46,48]},' +
      '"i8":{"dtype":"I8","shape":[1],"data_offsets":[48,49]},' +
      '"ok":{"dtype":"BOOL","shape":[2],"data_offsets":[49,51]},' +
      '"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[51,51]}}';
    const data = [
      ...new Uint8Array(new Float64Array([0.1, -2.5]).buffer),
      ...u64(2n ** 40n),
      ...f32le(1.5, -3),
      0xff,
      0xff,
      0xff,
      0xff, // int32 -1
      0x00,
      0x3c,
      0x00,
      0xc0, // float16 1, -2
      0x80,
      0x3f,
      0x40,
      0xc0, // bfloat16 1, -3
      0xfe,
      0xff, // int16 -2
      7,
      250,
      0x80, // int8 -128
      1,
      0,
    ];
    const { tensors, metadata } = parseSafetensors(handMade(json, data));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toEqual([
      'f64',
      'i64',
      'f32',
      'i32',
      'f16',
      'bf16',
      'i16',
      'u8',
      'i8',
      'ok',
      'empty',
    ]);
    expect(tensors.f64).toEqual({ dtype: 'float64', shape: [2], data: new Float64Array([0.1, -2.5]) });
    expect(tensors.i64.data).toEqual(new BigInt64Array([2n ** 40n]));
    expect(tensors.f32).toEqual({ dtype: 'float32', shape: [2, 1], data: new Float32Array([1.5, -3]) });
    expect(tensors.i32.data).toEqual(new Int32Array([-1]));
    expect(tensors.f16).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.bf16).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([1, -3]) });
    expect(tensors.i16.data).toEqual(new Int16Array([-2]));
    expect(tensors.u8.data).toEqual(new Uint8Array([7, 250]));
    expect(tensors.i8.data).toEqual(new Int8Array([-128]));
    expect(tensors.ok).toEqual({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) });
    expect(tensors.empty.shape).toEqual([0, 3]);
    const raw = parseSafetensors(handMade(json, data), { upcastHalf: false });
    expect(raw.tensors.f16).toEqual({
      dtype: 'float16',
      shape: [2],
      data: new Uint16Array([0x3c00, 0xc000]),
    });
    expect(raw.tensors.bf16.dtype).toBe('bfloat16');
  });

  it('round-trips every dtype, odd names and metadata, and is independent of the input buffer', () => {
    const tensors: Record<string, HostTensor> = {
      'a.weight': {
        dtype: 'float32',
        shape: [2, 3],
        data: Float32Array.from({ length: 6 }, (_, i) => i / 7),
      },
      __proto__x: { dtype: 'float64', shape: [1, 1, 1], data: new Float64Array([Math.PI]) },
      'ü/ß': { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 3n]) },
      i32: { dtype: 'int32', shape: [], data: new Int32Array([-7]) },
      i16: { dtype: 'int16', shape: [2], data: new Int16Array([-300, 300]) },
      i8: { dtype: 'int8', shape: [1], data: new Int8Array([-1]) },
      u8: { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) },
      bool: { dtype: 'bool', shape: [2], data: new Uint8Array([0, 1]) },
      f16: castHostTensor(
        { dtype: 'float32', shape: [3], data: new Float32Array([0.5, -1e-5, 65504]) },
        'float16',
      ),
      bf16: castHostTensor(
        { dtype: 'float32', shape: [2], data: new Float32Array([3.140625, -1e30]) },
        'bfloat16',
      ),
    };
    Object.defineProperty(tensors, '__proto__', {
      value: { dtype: 'uint8', shape: [1], data: new Uint8Array([9]) },
      enumerable: true,
    });
    const meta = { step: '1000', config: JSON.stringify({ a: [1, 2], s: 'x"y' }) };
    const bytes = serializeSafetensors(tensors, meta);
    const copy = new Uint8Array(bytes.length + 3).subarray(3);
    copy.set(bytes);
    const back = parseSafetensors(copy, { upcastHalf: false });
    copy.fill(0);
    expect(back.metadata).toEqual(meta);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) expect(back.tensors[k], k).toEqual(t);
    expect(Object.hasOwn(back.tensors, '__proto__')).toBe(true);
    expect(parseSafetensorsHeader(bytes).entries.map(([, e]) => e.dtype)).toEqual([
      'I64',
      'F64',
      'F32',
      'I32',
      'BF16',
      'F16',
      'I16',
      'I8',
      'U8',
      'U8',
      'BOOL',
    ]);
  });

  it('validates the header: offsets, sizes, dtypes, JSON and length', () => {
    const bad = (json: string, data: number[], re: RegExp) => {
      expect(() => parseSafetensors(handMade(json, data))).toThrow(TensorFormatError);
      expect(() => parseSafetensors(handMade(json, data))).toThrow(re);
    };
    const e = (name: string, dtype: string, shape: number[], off: [number, number]) =>
      `"${name}":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(off)}}`;
    bad(
      `{${e('a', 'F32', [2], [0, 8])},${e('b', 'F32', [1], [4, 8])}}`,
      f32le(1, 2),
      /'b' starts at data offset 4, expected 8 \(overlaps/,
    );
    bad(`{${e('a', 'F32', [1], [0, 4])},${e('b', 'F32', [1], [8, 12])}}`, f32le(1, 2, 3), /leaves a gap/);
    bad(`{${e('a', 'F32', [3], [0, 8])}}`, f32le(1, 2), /needs 12 bytes but its offsets \[0, 8\] span 8/);
    bad(`{${e('a', 'F32', [2], [0, 8])}}`, f32le(1, 2, 3), /cover 8 bytes but the data section has 12/);
    bad(`{${e('a', 'F32', [4], [0, 16])}}`, f32le(1, 2), /past the 8-byte data section/);
    bad(`{${e('a', 'U16', [1], [0, 2])}}`, [0, 0], /dtype "U16", which is not supported/);
    bad(`{${e('a', 'Q7', [1], [0, 2])}}`, [0, 0], /dtype "Q7", which is unknown/);
    bad(`{${e('a', 'F32', [1e15, 1e15], [0, 4])}}`, f32le(1), /impossibly large shape/);
    bad(`{${e('a', 'F32', [-1], [0, 4])}}`, f32le(1), /invalid shape/);
    bad(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, f32le(1), /invalid data_offsets/);
    bad('{"__metadata__":{"k":1}}', [], /__metadata__\['k'\] is a number/);
    bad('["not an object"]', [], /does not start with/);
    bad('{"a": tru}', [], /not valid JSON/);
    expect(() => parseSafetensors(b(u64(10 ** 12), '{}'))).toThrow(/exceeds the 100 MB limit/);
    expect(() => parseSafetensors(b(u64(64), '{}'))).toThrow(/runs past the end/);
    expect(() => parseSafetensors(b(1, 2, 3))).toThrow(/too short/);
    expect(() => parseSafetensors(b(u64(2), 0xff, 0xfe))).toThrow(/not valid UTF-8/);
  });

  it('rejects bad writer input before producing bytes', () => {
    const t: HostTensor = { dtype: 'float32', shape: [2], data: new Float32Array(3) };
    expect(() => serializeSafetensors({ t })).toThrow(/has 3 elements for shape \[2\]/);
    expect(() =>
      serializeSafetensors({ __metadata__: { dtype: 'uint8', shape: [0], data: new Uint8Array(0) } }),
    ).toThrow(/reserved/);
    expect(() =>
      serializeSafetensors(
        { x: { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } },
        { k: 5 as unknown as string },
      ),
    ).toThrow(/metadata\['k'\] must be a string/);
  });
});
