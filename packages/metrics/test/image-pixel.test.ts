import { describe, expect, it } from 'vitest';
import { type ImageBatch, imageBatch, l1, mse, psnr, psnrPerImage, quantizeToUint8 } from '../src/index.js';

const batch = (data: ImageBatch['data'], n: number, h: number, w: number, c: number): ImageBatch =>
  imageBatch(data, [n, h, w, c]);

describe('psnr', () => {
  it('is 34.15140352195873 dB for a constant difference of 5 at peak 255', () => {
    const a = batch(new Uint8Array(2 * 4 * 4 * 3).fill(100), 2, 4, 4, 3);
    const b = batch(new Uint8Array(2 * 4 * 4 * 3).fill(105), 2, 4, 4, 3);
    expect(psnr(a, b)).toBeCloseTo(34.15140352195873, 12);
    expect(psnr(b, a, { reduction: 'pooled' })).toBeCloseTo(34.15140352195873, 12);
  });

  it('is +Infinity for identical images', () => {
    const a = batch(Float32Array.from([0.1, 0.2, 0.3, 0.4]), 1, 2, 2, 1);
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(Array.from(psnrPerImage(a, a, { peak: 2 }))).toEqual([Number.POSITIVE_INFINITY]);
  });

  it('averages per-image PSNRs by default and pools the MSE on request', () => {
    // Image 0 differs by 1 everywhere (MSE 1), image 1 by 3 (MSE 9); peak 10.
    const a = batch(new Float64Array(8), 2, 2, 2, 1);
    const b = batch(Float64Array.from([1, 1, 1, 1, 3, 3, 3, 3]), 2, 2, 2, 1);
    const per = psnrPerImage(a, b, { peak: 10 });
    expect(per[0]).toBeCloseTo(20, 14);
    expect(per[1]).toBeCloseTo(10 * Math.log10(100 / 9), 14);
    expect(psnr(a, b, { peak: 10 })).toBeCloseTo((per[0] + per[1]) / 2, 14);
    expect(psnr(a, b, { peak: 10, reduction: 'pooled' })).toBeCloseTo(10 * Math.log10(100 / 5), 14);
  });

  it('rejects bad input with errors naming the argument', () => {
    const a = batch(new Float32Array(12), 1, 2, 2, 3);
    expect(() => psnr(a, batch(new Float32Array(12), 1, 2, 3, 2))).toThrow(
      /a and b must have the same shape/,
    );
    expect(() => psnr(a, a, { peak: 0 })).toThrow(/opts.peak must be a positive number/);
    expect(() => psnr(a, a, { reduction: 'mean' as never })).toThrow(/opts.reduction must be/);
    expect(() => imageBatch(new Float32Array(11), [1, 2, 2, 3])).toThrow(
      /data has 11 values but shape \[1, 2, 2, 3\] needs 12/,
    );
    expect(() => imageBatch(new Float32Array(12), [2, 2, 3] as never)).toThrow(
      /shape must be \[n, h, w, c\]/,
    );
    expect(() => psnr({ data: [1], shape: [1, 1, 1, 1] } as never, a)).toThrow(
      /a.data must be a Float32Array/,
    );
    expect(() => psnr(a, { data: new Float32Array(12).fill(NaN), shape: [1, 2, 2, 3] })).toThrow(
      /b.data\[0\] is NaN/,
    );
  });
});

describe('l1 and mse', () => {
  it('are the means over all elements', () => {
    const a = batch(Float32Array.from([0, 0, 0, 0, 0, 0]), 2, 1, 1, 3);
    const b = batch(Float32Array.from([1, -2, 3, -4, 0.5, 0]), 2, 1, 1, 3);
    expect(l1(a, b)).toBeCloseTo(10.5 / 6, 14);
    expect(mse(a, b)).toBeCloseTo((1 + 4 + 9 + 16 + 0.25) / 6, 14);
    expect(l1(b, b)).toBe(0);
    expect(() => mse(a, batch(new Float32Array(3), 1, 1, 1, 3))).toThrow(
      /mse: a and b must have the same shape/,
    );
  });

  it('do not wrap around on uint8 data', () => {
    const a = batch(Uint8Array.from([0, 255]), 1, 1, 2, 1);
    const b = batch(Uint8Array.from([255, 0]), 1, 1, 2, 1);
    expect(l1(a, b)).toBe(255);
    expect(mse(a, b)).toBe(255 * 255);
  });
});

describe('quantizeToUint8', () => {
  it('maps -1, 0, 1 to 0, 128, 255 and clamps outside [-1, 1]', () => {
    expect(Array.from(quantizeToUint8(Float32Array.from([-1, 0, 1, -7, 7, 0.999])))).toEqual([
      0, 128, 255, 0, 255, 255,
    ]);
  });

  it('truncates like the reference: every v / 127.5 - 1 comes back as v', () => {
    const x = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);
    expect(Array.from(quantizeToUint8(x))).toEqual(Array.from({ length: 256 }, (_, v) => v));
    // Rounding 127.5 x + 128 (same float32 steps) instead would move 255 of the 256 levels up by one.
    const rounded = Array.from(x, (xv) =>
      Math.min(255, Math.round(Math.fround(Math.fround(127.5 * xv) + 128))),
    );
    expect(rounded.filter((q, v) => q !== v)).toHaveLength(255);
  });

  it('evaluates 127.5 x + 128 in float32 steps like the torch reference', () => {
    // In float64 127.5 x + 128 = 0.99999997 floors to 0; float32 rounds it to 1 first.
    const x = Math.fround(-0.9960784316062927);
    expect(Math.floor(127.5 * x + 128)).toBe(0);
    expect(quantizeToUint8(Float32Array.from([x]))[0]).toBe(1);
  });

  it('keeps the shape of an image batch', () => {
    const q = quantizeToUint8(batch(Float64Array.from([-1, -0.5, 0.5, 1]), 1, 2, 2, 1));
    expect(q.shape).toEqual([1, 2, 2, 1]);
    expect(q.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(q.data)).toEqual([0, 64, 191, 255]);
    expect(() => quantizeToUint8(Float32Array.from([0, Number.NaN]))).toThrow(/x\[1\] is NaN/);
  });
});
