import { describe, expect, it } from 'vitest';
import { inceptionScore } from '../src/index.js';

/** z[i][j] = 3 sin(0.37 i j + 0.11 j + i), 20 x 7: the inputs of the numpy reference values below. */
function fixedLogits(): Float64Array {
  const z = new Float64Array(20 * 7);
  for (let i = 0; i < 20; i++)
    for (let j = 0; j < 7; j++) z[i * 7 + j] = 3 * Math.sin(0.37 * i * j + 0.11 * j + i);
  return z;
}

describe('inceptionScore', () => {
  it('is 1 for uniform predictions', () => {
    const r = inceptionScore(new Float32Array(12 * 10).fill(0.3), 10);
    expect(r.mean).toBeCloseTo(1, 15);
    expect(r.std).toBe(0);
  });

  it('matches the closed form for p = [[.9, .1], [.1, .9]]', () => {
    const logits = Float64Array.from([0.9, 0.1, 0.1, 0.9].map(Math.log));
    const r = inceptionScore(logits, 2);
    // exp(0.9 ln 1.8 + 0.1 ln 0.2)
    expect(r.mean).toBeCloseTo(1.4449348111684153, 14);
    expect(Array.from(r.scores)).toHaveLength(1);
  });

  it('does not depend on a constant added to a row of logits', () => {
    const z = fixedLogits();
    const shifted = z.map((v, k) => v + (Math.floor(k / 7) % 3) * 1000);
    expect(inceptionScore(shifted, 7, { splitSize: 6 }).mean).toBeCloseTo(
      inceptionScore(z, 7, { splitSize: 6 }).mean,
      12,
    );
  });

  it('matches the ADM formula (numpy, float64) for both chunkings', () => {
    // numpy: p = softmax(z); per part exp(mean(sum(p * (log p - log mean(p, 0)), 1))); np.mean, np.std.
    const z = fixedLogits();
    const bySize = inceptionScore(z, 7, { splitSize: 6 }); // chunks 6, 6, 6, 2
    expect(bySize.scores).toHaveLength(4);
    expect(bySize.mean).toBeCloseTo(1.8070142389094346, 13);
    expect(bySize.std).toBeCloseTo(0.09763048379534653, 13);
    const bySplits = inceptionScore(z, 7, { splits: 3 }); // chunks 6, 7, 7
    expect(bySplits.scores).toHaveLength(3);
    expect(bySplits.mean).toBeCloseTo(1.8714240722463487, 13);
    expect(bySplits.std).toBeCloseTo(0.07641635014832038, 13);
  });

  it('stays finite when probabilities underflow, where log of softmax would give NaN', () => {
    // Each sample is certain of its own class: p underflows to exactly 0 elsewhere in float64.
    const n = 4;
    const z = new Float64Array(n * n);
    for (let i = 0; i < n; i++) z[i * n + i] = 2000;
    const naiveP = Math.exp(0 - 2000);
    expect(naiveP).toBe(0); // so log(p) = -Infinity and 0 * -Infinity = NaN in the reference formula
    expect(inceptionScore(z, n).mean).toBeCloseTo(n, 12); // perfectly confident and diverse: IS = #classes
  });

  it('uses chunks of 5000 by default', () => {
    const z = new Float32Array(5001 * 2);
    for (let i = 0; i < 5001; i++) z[i * 2 + (i % 2)] = 5;
    const r = inceptionScore(z, 2);
    expect(r.scores).toHaveLength(2);
    expect(r.scores[1]).toBe(1); // a single sample has KL 0 to its own mean
  });

  it('rejects bad input with errors naming the argument', () => {
    expect(() => inceptionScore(new Float64Array(5), 2)).toThrow(/logits must hold N x 2 values/);
    expect(() => inceptionScore(new Float64Array(0), 2)).toThrow(/N >= 1/);
    expect(() => inceptionScore(new Float64Array(4), 0)).toThrow(/numClasses must be a positive integer/);
    expect(() => inceptionScore(new Float64Array(4), 2, { splits: 3 })).toThrow(
      /splits \(3\) exceeds the number of samples 2/,
    );
    expect(() => inceptionScore(new Float64Array(4), 2, { splits: 1, splitSize: 2 })).toThrow(/not both/);
    expect(() => inceptionScore(new Float64Array(4), 2, { splitSize: 0 })).toThrow(
      /splitSize must be a positive integer/,
    );
    expect(() => inceptionScore(Float64Array.from([0, NaN]), 2)).toThrow(/logits\[1\] is NaN/);
  });
});
