import { describe, expect, it } from 'vitest';
import {
  type DistanceBlockFn,
  manifoldRadii,
  pairwiseSquaredDistances,
  precisionRecall,
} from '../src/index.js';
import { bruteForcePrecisionRecall, cloud, maxAbsDiff } from './stats-random.js';

const f64 = (v: number[]) => Float64Array.from(v);

describe('precisionRecall', () => {
  it('gives P = 0.5, R = 2/3 on the 1-D example of the spec', () => {
    const real = f64([0, 1, 2, 3, 4, 5]);
    const fake = f64([0.5, 1, 1.5, 2, 30, 31, 32, 33]);
    const r = precisionRecall(real, fake, 1);
    expect(r.precision).toBe(0.5);
    expect(r.recall).toBeCloseTo(2 / 3, 15);
  });

  it('counts a point exactly on a ball boundary as inside', () => {
    // The 3rd neighbour of 0 in {0, 1, 2, 3} is 3: squared radius 9. -3 is on the boundary.
    const real = f64([0, 1, 2, 3]);
    expect(precisionRecall(real, f64([-3, 10, 11, 12]), 1).precision).toBe(0.25);
    expect(precisionRecall(real, f64([-3.0001, 10, 11, 12]), 1).precision).toBe(0);
  });

  it.each([1, 3, 7, 1024])('matches a brute-force computation with blockSize %i', (blockSize) => {
    const dim = 3;
    const real = cloud(40, dim, 1, 0);
    const fake = cloud(33, dim, 2, 0.7);
    const want = bruteForcePrecisionRecall(real, fake, dim, 3);
    const got = precisionRecall(real, fake, dim, { blockSize });
    expect(got.precision).toBe(want.precision);
    expect(got.recall).toBe(want.recall);
    expect(got.precision).toBeGreaterThan(0);
    expect(got.precision).toBeLessThan(1);
    expect(maxAbsDiff(manifoldRadii(real, dim, { blockSize }), want.realRadii)).toBeLessThan(1e-12);
  });

  it('supports another k and counts duplicates as neighbours', () => {
    const real = f64([0, 0, 0, 5, 6, 7]);
    // k = 2: each 0 has two other 0s, so its radius is 0.
    expect(Array.from(manifoldRadii(real, 1, { k: 2 }))).toEqual([0, 0, 0, 4, 1, 4]);
    const dim = 2;
    const a = cloud(25, dim, 3, 0);
    const b = cloud(30, dim, 4, 0.3);
    const want = bruteForcePrecisionRecall(a, b, dim, 5);
    const got = precisionRecall(a, b, dim, { k: 5, blockSize: 4 });
    expect([got.precision, got.recall]).toEqual([want.precision, want.recall]);
  });

  it('uses a pluggable distance kernel, for example a float32 one', () => {
    let calls = 0;
    const f32: DistanceBlockFn = (rows, nr, cols, nc, dim) => {
      calls++;
      return Float32Array.from(pairwiseSquaredDistances(rows, nr, cols, nc, dim));
    };
    const real = cloud(20, 2, 5, 0);
    const fake = Float32Array.from(cloud(20, 2, 6, 0.5));
    const want = precisionRecall(real, fake, 2);
    expect(precisionRecall(real, fake, 2, { distanceBlock: f32, blockSize: 8 })).toEqual(want);
    expect(calls).toBeGreaterThanOrEqual(9 + 9); // both radius passes; the cross pass may skip blocks
    const bad: DistanceBlockFn = () => new Float64Array(1);
    expect(() => precisionRecall(real, fake, 2, { distanceBlock: bad })).toThrow(
      /distanceBlock must return .* 400 values/,
    );
  });

  it('computes squared distances, clamped at zero where the expansion rounds below it', () => {
    const u = f64([1e8 + 1, 3]);
    const v = f64([1e8 + 1, 3 + 1e-9]);
    // |u|^2 - 2 u.v + |v|^2 evaluates to -2 here.
    expect(
      u[0] * u[0] + u[1] * u[1] - 2 * (u[0] * v[0] + u[1] * v[1]) + (v[0] * v[0] + v[1] * v[1]),
    ).toBeLessThan(0);
    expect(Array.from(pairwiseSquaredDistances(u, 1, v, 1, 2))).toEqual([0]);
    const a = cloud(6, 4, 9, 0);
    const b = Float32Array.from(cloud(5, 4, 10, 1));
    const d = pairwiseSquaredDistances(a, 6, b, 5, 4);
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 5; j++) {
        let direct = 0;
        for (let t = 0; t < 4; t++) direct += (a[i * 4 + t] - b[j * 4 + t]) ** 2;
        expect(d[i * 5 + j]).toBeCloseTo(direct, 12);
      }
    }
  });

  it('rejects bad input with errors naming the argument', () => {
    const ok = f64([0, 1, 2, 3]);
    expect(() => precisionRecall(f64([0, 1, 2]), ok, 1)).toThrow(
      /realFeatures has 3 rows; k = 3 needs at least 4/,
    );
    expect(() => precisionRecall(f64([0, 1, 2, 3, 4, 5, 6, 7]), f64([0, 1, 2, 3, 4]), 2)).toThrow(
      /fakeFeatures must hold N x 2 values, got 5/,
    );
    expect(() => precisionRecall(ok, ok, 0)).toThrow(/dim must be a positive integer/);
    expect(() => precisionRecall(ok, ok, 1, { k: 0 })).toThrow(/opts.k must be a positive integer/);
    expect(() => precisionRecall(ok, ok, 1, { blockSize: 1.5 })).toThrow(
      /opts.blockSize must be a positive integer/,
    );
    expect(() => precisionRecall(ok, [0, 1, 2, 3] as unknown as Float64Array, 1)).toThrow(
      /fakeFeatures must be a Float32Array/,
    );
    expect(() => precisionRecall(ok, f64([0, 1, 2, NaN]), 1)).toThrow(/fakeFeatures\[3\] is NaN/);
  });
});
