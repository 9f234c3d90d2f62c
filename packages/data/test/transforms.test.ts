import { createRng } from '@ldmae/core';
import { describe, expect, it } from 'vitest';
import { BYTE_TO_UNIT, unitToByte } from '../src/image.js';
import {
  admCenterCrop,
  centerCrop,
  compose,
  cropImage,
  flipHorizontal,
  normalize,
  normalizeImage,
  pad,
  randomHorizontalFlip,
  randomResizedCrop,
  resize,
  resizeImage,
  rgbToGrey,
  roundHalfEven,
  toRgb,
  toUint8Image,
} from '../src/index.js';
import { axisCoefficients } from '../src/transforms/resample.js';
import { randomResizedCropBox, resizeOutputSize, transformFromSpec } from '../src/transforms/transforms.js';
import { grey, patternImage } from './helpers.js';

const rng = createRng(0);

/** Keys' cubic kernel with a = -0.5, written out independently of the implementation. */
function cubic(x: number): number {
  const a = Math.abs(x);
  if (a < 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
  if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
  return 0;
}

describe('bicubic resampling (Pillow semantics)', () => {
  // Downscaling 4 -> 2: scale 2 widens the kernel (antialias): taps at (x - centre + 0.5) / 2.
  const taps0 = [-0.25, 0.25, 0.75, 1.25].map(cubic);
  const taps1 = [-1.25, -0.75, -0.25, 0.25].map(cubic);
  const norm = (t: number[]) => t.map((v) => v / t.reduce((a, b) => a + b, 0));

  it('computes the antialiased weights by hand', () => {
    const c = axisCoefficients(4, 0, 4, 2, 'bicubic');
    expect(c.ksize).toBe(9);
    expect(Array.from(c.bounds)).toEqual([0, 4, 0, 4]);
    norm(taps0).forEach((w, i) => {
      expect(c.weights[i]).toBeCloseTo(w, 12);
    });
    norm(taps1).forEach((w, i) => {
      expect(c.weights[9 + i]).toBeCloseTo(w, 12);
    });
    expect(taps0[1]).toBeCloseTo(0.8671875, 12);
  });

  it('float rows: the weighted sums of the hand-computed weights', () => {
    const row = [10, 20, 200, 40];
    const out = resizeImage(grey([row], true), 1, 2);
    const want0 = norm(taps0).reduce((s, w, i) => s + w * row[i], 0);
    const want1 = norm(taps1).reduce((s, w, i) => s + w * row[i], 0);
    expect(out.data[0]).toBeCloseTo(want0, 4);
    expect(out.data[1]).toBeCloseTo(want1, 4);
    // Pillow 9.4, mode 'F': [[36.23966979980469, 112.10743713378906]]
    expect(out.data[0]).toBeCloseTo(36.23967, 4);
    expect(out.data[1]).toBeCloseTo(112.107437, 4);
  });

  it('byte rows: 22-bit fixed-point weights, +2^21, floor', () => {
    const row = [10, 20, 200, 40];
    const out = resizeImage(grey([row]), 1, 2);
    const fixed = (t: number[]) => norm(t).map((w) => Math.trunc(w * 2 ** 22 + Math.sign(w) * 0.5));
    const want = [taps0, taps1].map((t) =>
      Math.floor((2 ** 21 + fixed(t).reduce((s, k, i) => s + k * row[i], 0)) / 2 ** 22),
    );
    expect(Array.from(out.data)).toEqual(want);
    expect(want).toEqual([36, 112]);
  });

  it('matches Pillow 9.4 on small 2-D grey and RGB images', () => {
    const a = grey([
      [0, 50, 100, 150],
      [200, 250, 30, 80],
      [10, 20, 30, 40],
      [255, 0, 255, 0],
    ]);
    expect(Array.from(resizeImage(a, 2, 3).data)).toEqual([102, 97, 92, 113, 84, 55]);
    expect(Array.from(resizeImage(a, 6, 5).data)).toEqual([
      0, 18, 71, 124, 157, 104, 149, 112, 75, 122, 184, 236, 129, 22, 73, 21, 45, 34, 23, 47, 129, 22, 73,
      123, 16, 255, 55, 135, 213, 0,
    ]);
    expect(Array.from(resizeImage(a, 2, 2, 'bilinear').data)).toEqual([102, 89, 98, 73]);
    const rgb = { data: Uint8Array.from({ length: 18 }, (_, i) => i * 13), height: 3, width: 2, channels: 3 };
    expect(Array.from(resizeImage(rgb, 4, 3).data)).toEqual([
      0, 6, 19, 16, 29, 42, 38, 51, 64, 42, 53, 66, 63, 76, 89, 85, 98, 111, 109, 123, 136, 133, 146, 159,
      155, 168, 181, 157, 170, 183, 180, 193, 206, 202, 215, 228,
    ]);
  });

  it('keeps constant images constant and rejects bad sizes', () => {
    const flat = { data: new Uint8Array(5 * 7 * 3).fill(77), height: 5, width: 7, channels: 3 };
    expect(resizeImage(flat, 11, 3).data.every((v) => v === 77)).toBe(true);
    expect(() => resizeImage(flat, 0, 3)).toThrow(/positive integers/);
    expect(() => resizeImage(flat, 2, 2, 'cubic' as 'bicubic')).toThrow(/interpolation/);
  });
});

describe('geometry', () => {
  const im = grey([
    [1, 2, 3],
    [4, 5, 6],
  ]);

  it('flips, crops (zero outside) and converts channels', () => {
    expect(Array.from(flipHorizontal(im).data)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from(cropImage(im, 1, 1, 2, 3).data)).toEqual([5, 6, 0, 0, 0, 0]);
    expect(Array.from(cropImage(im, -1, 0, 2, 2).data)).toEqual([0, 0, 1, 2]);
    const rgb = toRgb().apply(im, rng);
    expect(rgb.channels).toBe(3);
    expect(Array.from(rgb.data.subarray(0, 6))).toEqual([1, 1, 1, 2, 2, 2]);
    // Pillow's convert('L') of [10,200,30], white, black, [1,2,3]: [[124, 255, 0, 2]]
    const c = {
      data: Uint8Array.from([10, 200, 30, 255, 255, 255, 0, 0, 0, 1, 2, 3]),
      height: 1,
      width: 4,
      channels: 3,
    };
    expect(Array.from(rgbToGrey(c).data)).toEqual([124, 255, 0, 2]);
  });

  it('pads like numpy.pad in every mode', () => {
    const row = grey([[1, 2, 3]]);
    const padRow = (mode: 'constant' | 'edge' | 'reflect' | 'symmetric') =>
      Array.from(pad([2, 0, 2, 0], { mode, fill: 9 }).apply(row, rng).data);
    expect(padRow('constant')).toEqual([9, 9, 1, 2, 3, 9, 9]);
    expect(padRow('edge')).toEqual([1, 1, 1, 2, 3, 3, 3]);
    expect(padRow('reflect')).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(padRow('symmetric')).toEqual([2, 1, 1, 2, 3, 3, 2]);
    const p = pad(1).apply(im, rng);
    expect([p.height, p.width]).toEqual([4, 5]);
    expect(Array.from(p.data)).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0]);
    expect(() => pad([1, 2, 3])).toThrow(/padding/);
  });
});

describe('torchvision transforms', () => {
  it('Resize(int) sets the shorter side; the longer is truncated', () => {
    expect(resizeOutputSize(100, 150, 64)).toEqual([64, 96]);
    expect(resizeOutputSize(150, 100, 64)).toEqual([96, 64]);
    expect(resizeOutputSize(3, 7, 2)).toEqual([2, 4]); // int(2 * 7 / 3) = 4
    expect(resizeOutputSize(100, 300, 64, 150)).toEqual([50, 150]);
    const out = resize(2).apply(patternImage(3, 7, 3), rng);
    expect([out.height, out.width, out.channels]).toEqual([2, 4, 3]);
    const same = patternImage(4, 4, 1);
    expect(resize(4).apply(same, rng)).toBe(same);
  });

  it('CenterCrop rounds offsets half to even and pads when larger', () => {
    expect(roundHalfEven(0.5)).toBe(0);
    expect(roundHalfEven(1.5)).toBe(2);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(-1.5)).toBe(-2);
    expect(roundHalfEven(-2.5)).toBe(-2);
    const row = grey([[0, 1, 2, 3, 4]]);
    // (5 - 2) / 2 = 1.5 -> left 2; (5 - 4) / 2 = 0.5 -> left 0
    expect(Array.from(centerCrop([1, 2]).apply(row, rng).data)).toEqual([2, 3]);
    expect(Array.from(centerCrop([1, 4]).apply(row, rng).data)).toEqual([0, 1, 2, 3]);
    // larger: pad (8 - 5) // 2 = 1 on the left
    expect(Array.from(centerCrop([1, 8]).apply(row, rng).data)).toEqual([0, 0, 1, 2, 3, 4, 0, 0]);
    const f = normalizeImage(row);
    expect(Array.from(centerCrop([1, 7]).apply(f, rng).data)).toEqual([-1, ...Array.from(f.data), -1]);
  });

  it('RandomResizedCrop draws area and log-ratio uniformly, falls back to a centre crop', () => {
    // A recorded generator: the box follows torchvision's formulas from the draws.
    const r1 = createRng(5);
    const r2 = createRng(5);
    // scale <= 0.5 of a 60x60 image always fits, so the first try is taken.
    const [i, j, h, w] = randomResizedCropBox(60, 60, [0.1, 0.5], [3 / 4, 4 / 3], r1);
    const area = 3600 * (0.1 + 0.4 * r2.nextFloat());
    const ratio = Math.exp(Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * r2.nextFloat());
    expect(w).toBe(roundHalfEven(Math.sqrt(area * ratio)));
    expect(h).toBe(roundHalfEven(Math.sqrt(area / ratio)));
    expect(i).toBe(r2.nextInt(60 - h + 1));
    expect(j).toBe(r2.nextInt(60 - w + 1));
    // Impossible scale (area > image with ratio 1): 10 failed tries, then the centre crop.
    expect(randomResizedCropBox(10, 40, [2, 2], [1, 1], createRng(1))).toEqual([0, 15, 10, 10]);
    expect(randomResizedCropBox(40, 10, [2, 2], [1, 1], createRng(1))).toEqual([15, 0, 10, 10]);
    expect(randomResizedCropBox(10, 10, [2, 2], [0.5, 2], createRng(1))).toEqual([0, 0, 10, 10]);
  });

  it('RandomResizedCrop output equals crop + bicubic resize of the drawn box', () => {
    const im = patternImage(20, 30, 3);
    const t = randomResizedCrop(8, { scale: [0.3, 1] });
    const out = t.apply(im, createRng(9));
    const [i, j, h, w] = randomResizedCropBox(20, 30, [0.3, 1], [3 / 4, 4 / 3], createRng(9));
    expect(Array.from(out.data)).toEqual(
      Array.from(resizeImage(cropImage(im, i, j, h, w), 8, 8, 'bicubic').data),
    );
  });

  it('RandomHorizontalFlip flips with probability p, seeded', () => {
    const im = grey([[1, 2]]);
    const t = randomHorizontalFlip(0.5);
    let flips = 0;
    for (let s = 0; s < 400; s++) {
      const r = createRng(s);
      const want = createRng(s).nextFloat() < 0.5;
      const out = t.apply(im, r);
      expect(out.data[0] === 2).toBe(want);
      if (want) flips++;
    }
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
    expect(randomHorizontalFlip(0).apply(im, createRng(1))).toBe(im);
    expect(() => randomHorizontalFlip(2)).toThrow(/p must be in \[0, 1\]/);
  });

  it('normalises bytes to [-1, 1] and back exactly; clamps out-of-range floats', () => {
    const all = { data: Uint8Array.from({ length: 256 }, (_, i) => i), height: 16, width: 16, channels: 1 };
    const f = normalize().apply(all, rng);
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(f.data[0]).toBe(-1);
    expect(f.data[255]).toBe(1);
    expect(f.data[128]).toBeCloseTo(128 / 127.5 - 1, 6);
    expect(Array.from(toUint8Image(f).data)).toEqual(Array.from(all.data));
    expect(BYTE_TO_UNIT[51]).toBe(Math.fround(Math.fround(Math.fround(51 / 255) - 0.5) / 0.5));
    expect([unitToByte(-2), unitToByte(2), unitToByte(0), unitToByte(Number.NaN)]).toEqual([0, 255, 128, 0]);
  });

  it('ADM center_crop_arr matches Pillow 9.4 (box halving, bicubic, floor-centred crop)', () => {
    const data = Uint8Array.from({ length: 10 * 7 * 3 }, (_, i) => i % 251);
    const out = admCenterCrop(3).apply({ data, height: 10, width: 7, channels: 3 }, rng);
    expect([out.height, out.width]).toEqual([3, 3]);
    expect(Array.from(out.data)).toEqual([
      55, 56, 57, 62, 63, 64, 70, 71, 72, 97, 98, 99, 104, 105, 106, 112, 113, 114, 139, 140, 141, 146, 147,
      148, 154, 155, 156,
    ]);
  });

  it('rebuilds identical pipelines from specs (what workers do)', () => {
    const t = compose(resize(12), randomResizedCrop(8), randomHorizontalFlip(), normalize());
    const copy = transformFromSpec(JSON.parse(JSON.stringify(t.spec)));
    const im = patternImage(15, 20, 3);
    expect(Array.from(copy.apply(im, createRng(3)).data)).toEqual(Array.from(t.apply(im, createRng(3)).data));
    expect(() => transformFromSpec({ kind: 'warp' } as never)).toThrow(/unknown transform kind 'warp'/);
  });

  it('never modifies its input', () => {
    const im = patternImage(6, 6, 3);
    const before = Array.from(im.data);
    compose(pad(1, { mode: 'reflect' }), randomResizedCrop(4), randomHorizontalFlip(1), centerCrop(3)).apply(
      im,
      createRng(1),
    );
    expect(Array.from(im.data)).toEqual(before);
  });
});
