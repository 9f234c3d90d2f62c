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

/** A random orthogonal [m, m] matrix: Gram-Schmidt (twice) on the rows of a normal matrix. */
export function randomOrthogonal(m: number, seed: number): Float64Array {
  const q = randomMatrix(m, m, seed);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let k = 0; k < m; k++) dot += q[i * m + k] * q[j * m + k];
        for (let k = 0; k < m; k++) q[i * m + k] -= dot * q[j * m + k];
      }
      let norm = 0;
      for (let k = 0; k < m; k++) norm += q[i * m + k] ** 2;
      for (let k = 0; k < m; k++) q[i * m + k] /= Math.sqrt(norm);
    }
  }
  return q;
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

/**
 * Clustered points on a quarter-step grid (exact in float32, so ties land identically in either
 * precision) with some exact duplicates, so ties and duplicate neighbours occur.
 */
export function cloud(n: number, dim: number, seed: number, centre: number): Float64Array {
  const { normal, uniform } = seeded(seed);
  const x = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) {
    if (i > 0 && uniform() < 0.15) {
      x.copyWithin(i * dim, (i - 1) * dim, i * dim);
      continue;
    }
    for (let t = 0; t < dim; t++) x[i * dim + t] = Math.round((centre + normal()) * 4) / 4;
  }
  return x;
}

/**
 * Precision / recall on full distance matrices (the reference for the tests): sort each own-set
 * distance row, radius = entry k (the k-th other neighbour); inclusive balls.
 */
export function bruteForcePrecisionRecall(
  real: ArrayLike<number>,
  fake: ArrayLike<number>,
  dim: number,
  k: number,
) {
  const rows = (x: ArrayLike<number>) => {
    const a = Float64Array.from(x);
    return Array.from({ length: a.length / dim }, (_, i) => a.subarray(i * dim, (i + 1) * dim));
  };
  const d2 = (u: Float64Array, v: Float64Array) => u.reduce((s, x, t) => s + (x - v[t]) ** 2, 0);
  const radii = (set: Float64Array[]) => set.map((u) => set.map((v) => d2(u, v)).sort((a, b) => a - b)[k]);
  const r = rows(real);
  const f = rows(fake);
  const rr = radii(r);
  const fr = radii(f);
  const precision = f.filter((v) => r.some((u, i) => d2(u, v) <= rr[i])).length / f.length;
  const recall = r.filter((u) => f.some((v, j) => d2(u, v) <= fr[j])).length / r.length;
  return { precision, recall, realRadii: rr };
}
