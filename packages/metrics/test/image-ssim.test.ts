import { describe, expect, it } from 'vitest';
import { type ImageBatch, imageBatch, ssim, ssimPerImage, ssimWindow } from '../src/index.js';
import { seeded } from './stats-random.js';

/** The fixed images of the scipy reference values: 2 x 16 x 13 x 3. */
function fixedPair(): [ImageBatch, ImageBatch] {
  const [n, h, w, c] = [2, 16, 13, 3];
  const a = new Float64Array(n * h * w * c);
  const b = new Float64Array(n * h * w * c);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const k = ((i * h + y) * w + x) * c + ch;
          a[k] = 0.5 + 0.4 * Math.sin(0.3 * y * (ch + 1) + 0.7 * x + i);
          b[k] = a[k] + 0.2 * Math.cos(1.1 * x * y + ch + i);
        }
  return [imageBatch(a, [n, h, w, c]), imageBatch(b, [n, h, w, c])];
}

function noise(n: number, h: number, w: number, c: number, seed: number): ImageBatch {
  const { uniform } = seeded(seed);
  return imageBatch(Float64Array.from({ length: n * h * w * c }, uniform), [n, h, w, c]);
}

/**
 * Independent single-channel reference: explicit 2-D window (outer product of the 1-D taps), explicit
 * reflect padding, one window at a time.
 */
function bruteForce(x: number[][], y: number[][], L: number, border: 'valid' | 'reflect'): number {
  const g = ssimWindow();
  const h = x.length;
  const w = x[0].length;
  const at = (m: number[][], r: number, c: number) => {
    const rr = r < 0 ? -r : r >= h ? 2 * (h - 1) - r : r;
    const cc = c < 0 ? -c : c >= w ? 2 * (w - 1) - c : c;
    return m[rr][cc];
  };
  const [r0, r1, c0, c1] = border === 'valid' ? [5, h - 5, 5, w - 5] : [0, h, 0, w];
  let total = 0;
  for (let r = r0; r < r1; r++) {
    for (let c = c0; c < c1; c++) {
      let mx = 0;
      let my = 0;
      for (let u = -5; u <= 5; u++)
        for (let v = -5; v <= 5; v++) {
          mx += g[u + 5] * g[v + 5] * at(x, r + u, c + v);
          my += g[u + 5] * g[v + 5] * at(y, r + u, c + v);
        }
      let vx = 0;
      let vy = 0;
      let cov = 0;
      for (let u = -5; u <= 5; u++)
        for (let v = -5; v <= 5; v++) {
          const wt = g[u + 5] * g[v + 5];
          vx += wt * (at(x, r + u, c + v) - mx) ** 2;
          vy += wt * (at(y, r + u, c + v) - my) ** 2;
          cov += wt * (at(x, r + u, c + v) - mx) * (at(y, r + u, c + v) - my);
        }
      const c1c = (0.01 * L) ** 2;
      const c2c = (0.03 * L) ** 2;
      total += ((2 * mx * my + c1c) * (2 * cov + c2c)) / ((mx * mx + my * my + c1c) * (vx + vy + c2c));
    }
  }
  return total / ((r1 - r0) * (c1 - c0));
}

function plane(b: ImageBatch, i: number, ch: number): number[][] {
  const [, h, w, c] = b.shape;
  return Array.from({ length: h }, (_, y) =>
    Array.from({ length: w }, (_, x) => b.data[((i * h + y) * w + x) * c + ch]),
  );
}

describe('ssim', () => {
  it.each(['valid', 'reflect'] as const)(
    'gives 0.8000639795265515 for constant 0.5 vs 0.25 at L = 1 (%s)',
    (border) => {
      const a = imageBatch(new Float32Array(16 * 16).fill(0.5), [1, 16, 16, 1]);
      const b = imageBatch(new Float32Array(16 * 16).fill(0.25), [1, 16, 16, 1]);
      expect(ssim(a, b, { dataRange: 1, border })).toBeCloseTo(0.8000639795265515, 13);
    },
  );

  it('matches scipy.ndimage.gaussian_filter based SSIM on fixed images', () => {
    // numpy / scipy: filter = gaussian_filter(., 1.5, truncate=3.5, mode=...), the Wang formula with
    // L = 2; 'valid' crops 5 px (any mode), 'reflect' uses mode='mirror' (= PyTorch reflect) uncropped.
    const [a, b] = fixedPair();
    const valid = ssimPerImage(a, b, { dataRange: 2, border: 'valid' });
    expect(valid[0]).toBeCloseTo(0.8711366965144639, 13);
    expect(valid[1]).toBeCloseTo(0.8671525486953904, 13);
    const reflect = ssimPerImage(a, b, { dataRange: 2, border: 'reflect' });
    expect(reflect[0]).toBeCloseTo(0.8562103991494417, 13);
    expect(reflect[1]).toBeCloseTo(0.8624719772075604, 13);
    expect(ssim(a, b, { dataRange: 2 })).toBeCloseTo((reflect[0] + reflect[1]) / 2, 14);
  });

  it.each(['valid', 'reflect'] as const)('matches a brute-force 2-D window computation (%s)', (border) => {
    const a = noise(1, 12, 14, 2, 1);
    const b = noise(1, 12, 14, 2, 2);
    const want =
      (bruteForce(plane(a, 0, 0), plane(b, 0, 0), 1, border) +
        bruteForce(plane(a, 0, 1), plane(b, 0, 1), 1, border)) /
      2;
    expect(ssim(a, b, { dataRange: 1, border })).toBeCloseTo(want, 13);
  });

  it('matches the hand-computed value of a single bright pixel in an 11 x 11 window', () => {
    // x = 0, y = v at the centre: mu_x = 0, mu_y = g0 v, var_y = g0 v^2 - (g0 v)^2, cov = 0, where
    // g0 = (centre tap)^2. SSIM = C1 / (mu_y^2 + C1) * C2 / (var_y + C2).
    const v = 0.8;
    const y = new Float64Array(121);
    y[60] = v;
    const g = ssimWindow();
    const g0 = g[5] * g[5];
    const [c1, c2] = [1e-4, 9e-4];
    const want = (c1 / ((g0 * v) ** 2 + c1)) * (c2 / (g0 * v * v - (g0 * v) ** 2 + c2));
    expect(
      ssim(imageBatch(new Float64Array(121), [1, 11, 11, 1]), imageBatch(y, [1, 11, 11, 1]), {
        dataRange: 1,
        border: 'valid',
      }),
    ).toBeCloseTo(want, 15);
    // The window: 11 normalised taps exp(-t^2 / 4.5).
    expect(g[5] / g[4]).toBeCloseTo(Math.exp(1 / 4.5), 15);
    expect(g.reduce((s, t) => s + t, 0)).toBeCloseTo(1, 15);
  });

  it('is 1 for identical images and symmetric in its arguments', () => {
    const a = noise(3, 9, 10, 3, 3);
    const b = noise(3, 9, 10, 3, 4);
    for (const v of ssimPerImage(a, a, { dataRange: 1 })) expect(v).toBeCloseTo(1, 14);
    expect(ssim(a, b, { dataRange: 1 })).toBeCloseTo(ssim(b, a, { dataRange: 1 }), 15);
    expect(ssim(a, b, { dataRange: 1 })).toBeLessThan(0.5);
  });

  it('clamps to a [min, max] data range and uses L = max - min, as torchmetrics does', () => {
    const a = noise(1, 8, 8, 1, 5);
    const b = noise(1, 8, 8, 1, 6);
    const a2 = imageBatch(
      a.data.map((v) => 2 * v - 1),
      [1, 8, 8, 1],
    );
    const b2 = imageBatch(
      b.data.map((v) => 2 * v - 1),
      [1, 8, 8, 1],
    );
    const over = imageBatch(
      a2.data.map((v) => v * 1.5),
      [1, 8, 8, 1],
    );
    const clamped = imageBatch(
      over.data.map((v) => Math.max(-1, Math.min(1, v))),
      [1, 8, 8, 1],
    );
    expect(ssim(over, b2, { dataRange: [-1, 1] })).toBeCloseTo(ssim(clamped, b2, { dataRange: 2 }), 15);
    // SSIM is invariant to scaling the data together with its range (not to shifting it).
    const scaled = (x: ImageBatch) =>
      imageBatch(
        x.data.map((v) => 2 * v),
        [1, 8, 8, 1],
      );
    expect(ssim(scaled(a), scaled(b), { dataRange: [0, 2] })).toBeCloseTo(ssim(a, b, { dataRange: 1 }), 13);
  });

  it('accepts uint8 images', () => {
    const a = noise(1, 11, 11, 3, 7);
    const b = noise(1, 11, 11, 3, 8);
    const qa = imageBatch(
      Uint8Array.from(a.data, (v) => Math.floor(v * 255)),
      [1, 11, 11, 3],
    );
    const qb = imageBatch(
      Uint8Array.from(b.data, (v) => Math.floor(v * 255)),
      [1, 11, 11, 3],
    );
    const fa = imageBatch(Float64Array.from(qa.data), [1, 11, 11, 3]);
    const fb = imageBatch(Float64Array.from(qb.data), [1, 11, 11, 3]);
    expect(ssim(qa, qb, { dataRange: 255 })).toBe(ssim(fa, fb, { dataRange: 255 }));
  });

  it('rejects bad input with errors naming the argument', () => {
    const a = noise(1, 10, 10, 1, 9);
    expect(() => ssim(a, a, { dataRange: 1, border: 'valid' })).toThrow(
      /at least 11 x 11 for border 'valid', got 10 x 10/,
    );
    const tiny = noise(1, 5, 8, 1, 9);
    expect(() => ssim(tiny, tiny, { dataRange: 1 })).toThrow(/at least 6 x 6 for border 'reflect'/);
    expect(() => ssim(a, a, { dataRange: 0 })).toThrow(/opts.dataRange must be a positive number/);
    expect(() => ssim(a, a, { dataRange: [1, -1] })).toThrow(/\[min, max\] pair with min < max/);
    expect(() => ssim(a, a, {} as never)).toThrow(/opts.dataRange/);
    expect(() => ssim(a, a, { dataRange: 1, border: 'same' as never })).toThrow(/opts.border must be/);
    expect(() => ssim(a, noise(1, 10, 10, 3, 1), { dataRange: 1 })).toThrow(
      /a and b must have the same shape/,
    );
  });
});
