/**
 * The one dense kernel the statistics need: C = A B^T over row-major float64 matrices.
 *
 * Every product in this package (covariance accumulation, the Fréchet matrix W^T S2 W, pairwise
 * distances) can be arranged so that both operands are read along contiguous rows, which is what
 * makes plain JavaScript reach a useful fraction of the machine here. Internal: not exported from the
 * package.
 */

/** Rows of the inner dimension processed per pass, so the tiles of A and B stay in L2 cache. */
const KC = 256;
/** Rows of A and of B per tile. */
const MC = 64;
const NC = 64;

/** Options of {@link multiplyABt}. */
export interface MultiplyOptions {
  /** Add into C instead of overwriting it. */
  accumulate?: boolean;
  /**
   * Only the entries with j >= i are needed (C symmetric, A = B). Entries just below the diagonal may
   * also be written; callers must read the upper triangle only.
   */
  upper?: boolean;
}

/**
 * C[i, j] (+)= sum_t A[i, t] B[j, t] for A of shape [m, k], B of shape [p, k], C of shape [m, p],
 * all row-major. No argument checks: callers validate.
 */
export function multiplyABt(
  a: Float64Array,
  m: number,
  b: Float64Array,
  p: number,
  k: number,
  c: Float64Array,
  opts: MultiplyOptions = {},
): void {
  const upper = opts.upper === true;
  if (!opts.accumulate) c.fill(0, 0, m * p);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const k1 = Math.min(k0 + KC, k);
    for (let i0 = 0; i0 < m; i0 += MC) {
      const i1 = Math.min(i0 + MC, m);
      // In upper mode a tile strictly below the diagonal holds nothing the caller reads.
      for (let j0 = upper ? i0 - (i0 % NC) : 0; j0 < p; j0 += NC) {
        const j1 = Math.min(j0 + NC, p);
        tile(a, b, c, p, k, i0, i1, j0, j1, k0, k1, upper);
      }
    }
  }
}

function tile(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  p: number,
  k: number,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  k0: number,
  k1: number,
  upper: boolean,
): void {
  let i = i0;
  // A 4 x 2 register block: six loads feed eight multiply-adds, and the eight independent sums hide
  // the latency of the additions.
  for (; i + 3 < i1; i += 4) {
    const r0 = i * k;
    const r1 = r0 + k;
    const r2 = r1 + k;
    const r3 = r2 + k;
    let j = upper ? Math.max(j0, i) : j0;
    for (; j + 1 < j1; j += 2) {
      const sa = j * k;
      const sb = sa + k;
      let c00 = 0;
      let c01 = 0;
      let c10 = 0;
      let c11 = 0;
      let c20 = 0;
      let c21 = 0;
      let c30 = 0;
      let c31 = 0;
      for (let t = k0; t < k1; t++) {
        const b0 = b[sa + t];
        const b1 = b[sb + t];
        let x = a[r0 + t];
        c00 += x * b0;
        c01 += x * b1;
        x = a[r1 + t];
        c10 += x * b0;
        c11 += x * b1;
        x = a[r2 + t];
        c20 += x * b0;
        c21 += x * b1;
        x = a[r3 + t];
        c30 += x * b0;
        c31 += x * b1;
      }
      const o = i * p + j;
      c[o] += c00;
      c[o + 1] += c01;
      c[o + p] += c10;
      c[o + p + 1] += c11;
      c[o + 2 * p] += c20;
      c[o + 2 * p + 1] += c21;
      c[o + 3 * p] += c30;
      c[o + 3 * p + 1] += c31;
    }
    if (j < j1) {
      for (let r = i; r < i + 4; r++) dotInto(a, b, c, p, k, r, j, k0, k1);
    }
  }
  for (; i < i1; i++) {
    for (let j = upper ? Math.max(j0, i) : j0; j < j1; j++) dotInto(a, b, c, p, k, i, j, k0, k1);
  }
}

function dotInto(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  p: number,
  k: number,
  i: number,
  j: number,
  k0: number,
  k1: number,
): void {
  const ra = i * k;
  const sa = j * k;
  let s = 0;
  for (let t = k0; t < k1; t++) s += a[ra + t] * b[sa + t];
  c[i * p + j] += s;
}

/** Copy the upper triangle of a square row-major matrix onto its lower triangle. */
export function mirrorUpper(c: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const row = i * n;
    for (let j = 0; j < i; j++) c[row + j] = c[j * n + i];
  }
}
