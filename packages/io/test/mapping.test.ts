import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  castHostTensor,
  float16BitsToNumber,
  fromTfTensor,
  fromTorchLayout,
  type HostTensor,
  numberToBfloat16Bits,
  numberToFloat16Bits,
  permuteHost,
  renameKeys,
  toTfTensor,
  toTfTensors,
  transposeForLayout,
} from '../src/index.node.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const host = (shape: number[]): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => i + 1) };
};

describe('renameKeys', () => {
  const sd = {
    'module.encoder.blocks.0.attn.qkv.weight': 1,
    'module.encoder.blocks.1.attn.qkv.weight': 2,
    'module.encoder.norm.weight': 3,
    'module.bn.num_batches_tracked': 4,
  };

  it('strips prefixes, applies regex rules with groups in order, adds prefixes and drops keys', () => {
    const out = renameKeys(sd, [
      { stripPrefix: 'module.' },
      { drop: /num_batches_tracked$/ },
      { from: /^encoder\.blocks\.(\d+)\./, to: 'enc.layers.$1.' },
      { from: 'encoder.', to: 'enc.' },
      { addPrefix: 'vmae.' },
    ]);
    expect(out).toEqual({
      'vmae.enc.layers.0.attn.qkv.weight': 1,
      'vmae.enc.layers.1.attn.qkv.weight': 2,
      'vmae.enc.norm.weight': 3,
    });
    // A string `from` is a literal prefix, not a pattern or a substring.
    expect(renameKeys({ 'a.b.a.': 1 }, { from: 'a.', to: 'x.' })).toEqual({ 'x.b.a.': 1 });
    expect(renameKeys({ 'a.b.a.': 1 }, { from: /a\./g, to: 'x.' })).toEqual({ 'x.b.x.': 1 });
  });

  it('refuses collisions and malformed rules', () => {
    expect(() => renameKeys({ 'module.w': 1, w: 2 }, { stripPrefix: 'module.' })).toThrow(
      /'module.w' and 'w' both map to 'w'/,
    );
    expect(() => renameKeys(sd, [{ from: 3 } as never])).toThrow(/invalid rule/);
  });
});

describe('transposeForLayout', () => {
  it('matches the Module layout conversion for host tensors and tf tensors, and inverts itself', () => {
    const linear = host([3, 5]); // PyTorch [out, in]
    const conv = host([4, 3, 2, 2]); // PyTorch [out, in, kh, kw]
    for (const [t, layout] of [
      [linear, 'linear'],
      [conv, 'conv2d'],
    ] as const) {
      const h = transposeForLayout(t, layout, 'torchToTfjs');
      const ref = tf.tidy(() => fromTorchLayout(tf.tensor(t.data as Float32Array, t.shape), layout));
      expect(h.shape).toEqual(ref.shape);
      expect(Array.from(h.data as Float32Array)).toEqual(Array.from(ref.dataSync()));
      const tt = tf.tensor(t.data as Float32Array, t.shape);
      const viaTf = transposeForLayout(tt, layout, 'torchToTfjs');
      expect(Array.from(viaTf.dataSync())).toEqual(Array.from(ref.dataSync()));
      expect(transposeForLayout(h, layout, 'tfjsToTorch')).toEqual(t);
      tf.dispose([ref, tt, viaTf]);
    }
    // conv2d: element [o, i, y, x] lands at [y, x, i, o].
    const h = transposeForLayout(conv, 'conv2d', 'torchToTfjs');
    expect(h.shape).toEqual([2, 2, 3, 4]);
    const at = (o: number, i: number, y: number, x: number) => ((o * 3 + i) * 2 + y) * 2 + x;
    expect((h.data as Float32Array)[((1 * 2 + 0) * 3 + 2) * 4 + 3]).toBe(at(3, 2, 1, 0) + 1);
    expect(() => transposeForLayout(host([2, 2, 2]), 'linear', 'torchToTfjs')).toThrow(/must have rank 2/);
    expect(() => permuteHost(host([2, 3]), [0, 0])).toThrow(/not a permutation/);
  });
});

describe('tfjs conversion', () => {
  it('converts every host dtype to float32 / int32 / bool and back, without leaking', () => {
    const before = tf.memory().numTensors;
    const cases: [HostTensor, string, number[]][] = [
      [
        { dtype: 'float64', shape: [2], data: new Float64Array([0.1, 1e10]) },
        'float32',
        [Math.fround(0.1), 1e10],
      ],
      [
        { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n]) },
        'int32',
        [-(2 ** 31), 2 ** 31 - 1],
      ],
      [{ dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) }, 'float32', [1]],
      [{ dtype: 'bfloat16', shape: [1], data: new Uint16Array([0xc040]) }, 'float32', [-3]],
      [{ dtype: 'uint8', shape: [2], data: new Uint8Array([0, 255]) }, 'int32', [0, 255]],
      [{ dtype: 'int8', shape: [1], data: new Int8Array([-128]) }, 'int32', [-128]],
      [{ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }, 'bool', [1, 0]],
    ];
    for (const [h, dtype, values] of cases) {
      const t = toTfTensor(h);
      expect(t.dtype, h.dtype).toBe(dtype);
      expect(Array.from(t.dataSync())).toEqual(values);
      const back = fromTfTensor(t);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual(h.shape);
      t.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks int64 ranges before creating any tensor', () => {
    const before = tf.memory().numTensors;
    const dict: Record<string, HostTensor> = {
      ok: { dtype: 'float32', shape: [1], data: new Float32Array([1]) },
      step: { dtype: 'int64', shape: [1], data: new BigInt64Array([2n ** 40n]) },
    };
    expect(() => toTfTensors(dict)).toThrow(
      /toTfTensors: 'step': element 0 \(1099511627776\) is outside the int32 range/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const made = toTfTensors({ ok: dict.ok });
    expect(Object.keys(made)).toEqual(['ok']);
    tf.dispose(Object.values(made));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rounds float16 and bfloat16 to nearest even', () => {
    const f16 = (v: number) => numberToFloat16Bits(v);
    expect(f16(1)).toBe(0x3c00);
    expect(f16(1 / 3)).toBe(0x3555);
    expect(f16(1 + 2 ** -11)).toBe(0x3c00); // tie, even mantissa stays
    expect(f16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd mantissa rounds up
    expect(f16(65504)).toBe(0x7bff);
    expect(f16(65520)).toBe(0x7c00); // rounds to infinity
    expect(f16(2 ** -24)).toBe(0x0001);
    expect(f16(2 ** -26)).toBe(0x0000);
    expect(f16(-0)).toBe(0x8000);
    expect(Number.isNaN(float16BitsToNumber(f16(Number.NaN)))).toBe(true);
    for (let bits = 0; bits < 0x7c00; bits += 37) expect(f16(float16BitsToNumber(bits))).toBe(bits);
    expect(numberToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToBfloat16Bits(Number.NaN) & 0x7fc0).toBe(0x7fc0);
    const back = castHostTensor(castHostTensor(host([5]), 'bfloat16'), 'float32');
    expect(Array.from(back.data as Float32Array)).toEqual([1, 2, 3, 4, 5]);
    expect(() =>
      castHostTensor({ dtype: 'float32', shape: [1], data: new Float32Array([300]) }, 'uint8'),
    ).toThrow(/outside the uint8 range/);
  });
});
