/**
 * The float32 product kernel (gemm-simd.ts) on a memory of its own, in both forms (fused
 * multiply-add through relaxed SIMD, and a multiply and an add): values against a float64 product
 * for every operand layout and across the block and tile edges, what is written and what is not,
 * and whether the fused form fuses.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gemmKernels, gemmScratchBytes, KC, MC } from '../src/backend/kernels/gemm-simd.js';
import { enableRelaxedSimd, hasRelaxedSimd } from '../src/backend/relaxed-simd.node.js';
import { createRng } from '../src/index.node.js';

const relaxed = enableRelaxedSimd();
const memory = new WebAssembly.Memory({ initial: 256 }); // 16 MiB
const heap = () => new Float32Array(memory.buffer);
const cpuHasFma = (() => {
  try {
    return /\bfma\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();

/** Addresses (bytes) of A, B, C and the scratch. */
const A = 0;
const B = 4 << 20;
const C = 8 << 20;
const S = 12 << 20;
const BIAS = 14 << 20;
const SENTINEL = -12345.5;

/**
 * Product of m x k by k x n with A transposed or not (`tA`), B likewise, C rows `ldc` floats apart,
 * plus a bias row when `withBias`; returns the worst error relative to sum_t |a||b| (+ |bias|) and
 * whether anything outside C's m x n entries changed.
 */
function run(
  fused: boolean,
  m: number,
  n: number,
  k: number,
  tA: boolean,
  tB: boolean,
  ldc = n,
  withBias = false,
) {
  const g = gemmKernels(memory, fused);
  if (!g) throw new Error('no WebAssembly SIMD');
  const h = heap();
  const rng = createRng(m * 7919 + n * 31 + k);
  const a = Float32Array.from(rng.uniformArray(m * k, -0.5, 0.5));
  const b = Float32Array.from(rng.uniformArray(k * n, -0.5, 0.5));
  h.set(a, A / 4);
  h.set(b, B / 4);
  const bias = Float32Array.from(rng.uniformArray(n, -2, 2));
  h.set(bias, BIAS / 4);
  h.fill(SENTINEL, C / 4, C / 4 + (m + 1) * ldc + 8);
  h.fill(Number.NaN, S / 4, S / 4 + gemmScratchBytes(n) / 4);
  const aAt = (i: number, t: number) => (tA ? a[t * m + i] : a[i * k + t]);
  const bAt = (t: number, j: number) => (tB ? b[j * k + t] : b[t * n + j]);
  // A[i, t] at A + i rs + t ks, B[t, j] likewise: transposes are strides.
  const [ars, aks, brs, bcs] = [tA ? 4 : k * 4, tA ? m * 4 : 4, tB ? 4 : n * 4, tB ? k * 4 : 4];
  g.blocked(A, ars, aks, B, brs, bcs, C, ldc * 4, m, n, k, S, withBias ? BIAS : 0);
  let worst = 0;
  let outside = 0;
  const out = heap();
  for (let i = 0; i <= m; i++) {
    for (let j = 0; j < ldc; j++) {
      const got = out[C / 4 + i * ldc + j];
      if (i === m || j >= n) {
        if (got !== SENTINEL) outside++;
        continue;
      }
      let sum = withBias ? bias[j] : 0;
      let mag = withBias ? Math.abs(bias[j]) : 0;
      for (let t = 0; t < k; t++) {
        sum += aAt(i, t) * bAt(t, j);
        mag += Math.abs(aAt(i, t) * bAt(t, j));
      }
      worst = Math.max(worst, Math.abs(got - sum) / Math.max(mag, 1e-30));
    }
  }
  return { worst, outside, fused: g.fused };
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 2],
  [4, 8, 7],
  [5, 9, 13],
  [MC, 16, KC],
  [MC + 1, 17, KC + 1],
  [2 * MC + 3, 8, 2 * KC - 1],
  [37, 70, 600],
];

describe.each([
  ['fused multiply-add', true],
  ['multiply and add', false],
])('product kernel, %s', (_form, fused) => {
  it.each(
    SHAPES.flatMap(([m, n, k]) =>
      [false, true].flatMap((tA) => [false, true].map((tB) => [m, n, k, tA, tB] as const)),
    ),
  )('%i x %i x %i, tA=%s tB=%s: float32 accuracy, nothing written outside C', (m, n, k, tA, tB) => {
    const r = run(fused, m, n, k, tA, tB, n + 3);
    // Float32 sums of k products: within a few k eps of sum |a b|.
    expect(r.worst).toBeLessThan(4 * k * 2 ** -24 + 1e-7);
    expect(r.outside).toBe(0);
  });

  it('overwrites C on the first block of the inner dimension (no stale values added)', () => {
    const r = run(fused, 9, 11, KC + 5, false, false);
    expect(r.worst).toBeLessThan(4 * (KC + 5) * 2 ** -24);
  });

  it.each(SHAPES)(
    '%i x %i x %i with a bias row: added once to every row, whole and partial tiles',
    (m, n, k) => {
      for (const [tA, tB] of [
        [false, false],
        [true, true],
      ]) {
        const r = run(fused, m, n, k, tA, tB, n + 3, true);
        expect(r.worst).toBeLessThan(4 * (k + 1) * 2 ** -24 + 1e-7);
        expect(r.outside).toBe(0);
      }
    },
  );
});

describe('relaxed SIMD', () => {
  it('is on after enableRelaxedSimd in Node 20 and later', () => {
    expect(relaxed).toBe(true);
    expect(hasRelaxedSimd()).toBe(true);
    expect(gemmKernels(memory)?.fused).toBe(true);
    expect(gemmKernels(memory, false)?.fused).toBe(false);
  });

  // a = 1 + 2^-12: a * a = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in float32, so with c = -(1 + 2^-11)
  // a multiply then an add gives 0 and a fused multiply-add gives 2^-24.
  it.each([
    ['multiply and add', false, 0],
    ['fused multiply-add', true, cpuHasFma ? 2 ** -24 : 0],
  ])('%s rounds as it says', (_form, fused, expected) => {
    const g = gemmKernels(memory, fused as boolean);
    if (!g) throw new Error('no WebAssembly SIMD');
    const x = 1 + 2 ** -12;
    const h = heap();
    h.set([1, x], A / 4); // A: 1 x 2
    h.set([-(1 + 2 ** -11), x], B / 4); // B: 2 x 1
    g.blocked(A, 8, 4, B, 4, 4, C, 4, 1, 1, 2, S, 0);
    expect(heap()[C / 4]).toBe(expected);
  });
});
