import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { describePipeline } from '../src/features/preprocess.js';
import {
  admPreprocess,
  nsfwjsPreprocess,
  pytorchFidPreprocess,
  quantizeToUint8,
  toPixelLevels,
} from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** A [1, h, w, 3] image whose three channels all hold the uint8 levels `v` (decoded as v / 127.5 - 1). */
function grey(v: number[][]): tf.Tensor4D {
  const h = v.length;
  const w = v[0].length;
  const data = v.flat().flatMap((x) => [x / 127.5 - 1, x / 127.5 - 1, x / 127.5 - 1]);
  return tf.tensor4d(data, [1, h, w, 3]);
}

/** Channel 0 of a [1, h, w, 3] tensor as rows. */
function channel0(t: tf.Tensor4D): number[][] {
  const [, h, w] = t.shape;
  const d = t.dataSync();
  return Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => d[(y * w + x) * 3]));
}

function expectRows(got: number[][], want: number[][], digits = 4): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, y) => {
    row.forEach((v, x) => {
      expect(v).toBeCloseTo(want[y][x], digits);
    });
  });
}

const LEVELS = [
  [0, 100],
  [200, 255],
];

describe('toPixelLevels', () => {
  it('quantises like the references', () => {
    const x = tf.tensor4d([-1, 0, 1, 0.5, -0.999, 0.3], [1, 1, 2, 3]);
    // ldmae: floor(clamp(127.5 x + 128)); adm: floor(clamp(127.5 (x + 1))).
    expect(Array.from(toPixelLevels(x, 'ldmae').dataSync())).toEqual([0, 128, 255, 191, 0, 166]);
    expect(Array.from(toPixelLevels(x, 'adm').dataSync())).toEqual([0, 127, 255, 191, 0, 165]);
    const none = toPixelLevels(x, 'none').dataSync();
    [0, 127.5, 255, 191.25, 0.1275, 165.75].forEach((v, i) => {
      expect(none[i]).toBeCloseTo(v, 3);
    });
    // 'ldmae' is quantizeToUint8 (the PSNR pipeline's) on tensors.
    const r = tf.randomUniform([2, 5, 5, 3], -1.2, 1.2, 'float32', 3) as tf.Tensor4D;
    expect(Array.from(toPixelLevels(r).dataSync())).toEqual(
      Array.from(quantizeToUint8(r.dataSync() as Float32Array)),
    );
  });

  it('recovers uint8 levels decoded as v / 127.5 - 1 exactly', () => {
    const v = Array.from({ length: 256 }, (_, i) => i);
    const x = tf.tensor4d(
      v.map((i) => i / 127.5 - 1),
      [1, 1, 256, 1],
    );
    expect(Array.from(toPixelLevels(x).dataSync())).toEqual(v);
  });
});

describe('input pipelines on a 2x2 image (hand-computed)', () => {
  it('ADM: TF1 legacy bilinear (src = dst * in / out), then (x - 128) / 128', () => {
    const y = admPreprocess(grey(LEVELS), { size: 3 });
    // Rows at source y = 0, 2/3, 4/3 (clamped to row 1); columns likewise.
    const levels = [
      [0, 200 / 3, 100],
      [400 / 3, 180, 610 / 3],
      [200, 710 / 3, 255],
    ];
    expectRows(
      channel0(y),
      levels.map((r) => r.map((v) => (v - 128) / 128)),
    );
    expect(y.shape).toEqual([1, 3, 3, 3]);
  });

  it('pytorch-fid: half-pixel bilinear (src = (dst + 0.5) in / out - 0.5, clamped at 0), then 2x - 1', () => {
    const y = pytorchFidPreprocess(grey(LEVELS), { size: 3 });
    // Source coordinates -1/6 -> 0, 0.5, 7/6 -> 1.
    const levels = [
      [0, 50, 100],
      [100, 138.75, 177.5],
      [200, 227.5, 255],
    ];
    expectRows(
      channel0(y),
      levels.map((r) => r.map((v) => (2 * v) / 255 - 1)),
    );
  });

  it('downscaling 4x4 -> 2x2: legacy picks pixels (0, 2), half-pixel averages 2x2 blocks', () => {
    const v = [
      [0, 10, 20, 30],
      [40, 50, 60, 70],
      [80, 90, 100, 110],
      [120, 130, 140, 150],
    ];
    expectRows(
      channel0(admPreprocess(grey(v), { size: 2 })),
      [
        [0, 20],
        [80, 100],
      ].map((r) => r.map((x) => (x - 128) / 128)),
    );
    expectRows(
      channel0(pytorchFidPreprocess(grey(v), { size: 2 })),
      [
        [25, 45],
        [105, 125],
      ].map((r) => r.map((x) => (2 * x) / 255 - 1)),
    );
  });

  it('nsfwjs: [0, 1] levels, align_corners resize (corners map to corners)', () => {
    const v = [
      [0, 10, 20],
      [30, 40, 50],
      [60, 70, 80],
    ];
    expectRows(channel0(nsfwjsPreprocess(grey(v), { size: 2 })), [
      [0, 20 / 255],
      [60 / 255, 80 / 255],
    ]);
  });

  it('leaves the size alone when it already matches, and names every step', () => {
    const x = grey(LEVELS);
    expectRows(channel0(pytorchFidPreprocess(x, { size: 2 })), [
      [-1, 200 / 255 - 1],
      [400 / 255 - 1, 1],
    ]);
    expect(describePipeline('adm')).toMatch(/legacy bilinear.*299x299.*\(x - 128\) \/ 128/);
    expect(describePipeline('pytorch-fid', { quantize: 'none' })).toMatch(/not rounded.*half-pixel/);
  });

  it('rejects bad input before any work, and leaks nothing', () => {
    const x = grey(LEVELS);
    const rank3 = tf.zeros([2, 2, 3]) as unknown as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const f of [admPreprocess, pytorchFidPreprocess, nsfwjsPreprocess]) f(x, { size: 5 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => admPreprocess(rank3)).toThrow(/\[n, H, W, 3\]/);
    expect(() => pytorchFidPreprocess(x, { size: 0 })).toThrow(/opts.size/);
    expect(() => admPreprocess(x, { quantize: 'round' as 'adm' })).toThrow(/opts.quantize/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
