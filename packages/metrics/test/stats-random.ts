/**
 * Seeded test data for the statistics tests (mulberry32 + Box-Muller), kept local so that these pure
 * float64 tests do not load tfjs through @ldmae/core.
 */
export function seeded(seed: number): { uniform: () => number; normal: () => number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    let u = 0;
    while (u === 0) u = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

/** Row-major [rows, cols] matrix of standard normals. */
export function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const { normal } = seeded(seed);
  return Float64Array.from({ length: rows * cols }, normal);
}

/** A B^T for row-major A [m, k] and B [p, k], the plain triple loop (reference for the tests). */
export function naiveABt(a: Float64Array, m: number, b: Float64Array, p: number, k: number): Float64Array {
  const c = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
      c[i * p + j] = s;
    }
  }
  return c;
}

/** A random symmetric PSD matrix B B^T / k with B [n, k] (rank min(n, k)). */
export function randomCovariance(n: number, k: number, seed: number): Float64Array {
  const b = randomMatrix(n, k, seed);
  return naiveABt(b, n, b, n, k).map((v) => v / k);
}

/** Largest absolute entry of a - b. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
