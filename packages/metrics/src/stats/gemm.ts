/**
 * The one dense kernel the statistics need: C = A B^T over row-major float64 matrices.
 *
 * Every product in this package (covariance accumulation, the Fréchet matrix W^T S2 W, pairwise
 * distances) can be arranged so that both operands are read along contiguous rows, which is what
 * makes plain JavaScript reach a useful fraction of the machine here. Where WebAssembly SIMD is
 * available, the bulk of a product (all but the last m mod 4 rows and p mod 4 columns) runs through the
 * float64 tile of wasm.ts on packed panels instead: the same sums in the same order, so the same bits,
 * three to four times faster. Internal: not exported from the package.
 */
import { arena, Batch, queueTiles, releaseArena } from './wasm.js';

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
  /** Row stride of A (elements between A[i, 0] and A[i + 1, 0]); default k. */
  lda?: number;
  /** Row stride of B; default k. */
  ldb?: number;
  /** Row stride of C; default p. */
  ldc?: number;
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
  const lda = opts.lda ?? k;
  const ldb = opts.ldb ?? k;
  const ldc = opts.ldc ?? p;
  if (!opts.accumulate) {
    if (ldc === p) c.fill(0, 0, m * p);
    else for (let i = 0; i < m; i++) c.fill(0, i * ldc, i * ldc + p);
  }
  const ld: Strides = { a: lda, b: ldb, c: ldc };
  const m4 = m - (m % 4);
  const p4 = p - (p % 4);
  if (
    m4 > 0 &&
    p4 > 0 &&
    m * p * k >= WASM_MIN_WORK &&
    wasmProduct(a, m4, b, p4, k, c, ld, upper, opts.accumulate === true)
  ) {
    for (let k0 = 0; k0 < k; k0 += KC) {
      const k1 = Math.min(k0 + KC, k);
      if (m4 < m) tile(a, b, c, ld, m4, m, 0, p, k0, k1, upper);
      if (p4 < p) tile(a, b, c, ld, 0, m4, p4, p, k0, k1, upper);
    }
    return;
  }
  for (let k0 = 0; k0 < k; k0 += KC) {
    const k1 = Math.min(k0 + KC, k);
    for (let i0 = 0; i0 < m; i0 += MC) {
      const i1 = Math.min(i0 + MC, m);
      // In upper mode a tile strictly below the diagonal holds nothing the caller reads.
      for (let j0 = upper ? i0 - (i0 % NC) : 0; j0 < p; j0 += NC) {
        const j1 = Math.min(j0 + NC, p);
        tile(a, b, c, ld, i0, i1, j0, j1, k0, k1, upper);
      }
    }
  }
}

/** Row strides of the three operands. */
interface Strides {
  a: number;
  b: number;
  c: number;
}

/** Products smaller than this many multiply-adds stay in JavaScript (packing would dominate). */
const WASM_MIN_WORK = 1 << 15;
/** Row panels (of 4) and column panels (of 4) per WebAssembly tile call: 64 x 128 entries. */
const W_MC = 64;
const W_NC = 128;

/**
 * C[0:m4, 0:p4] (+)= A[0:m4, :] B[0:p4, :]^T through the WebAssembly tile (m4, p4 multiples of 4; C
 * row-major with `ldc` columns). Per chunk of KC columns of the inner dimension, A and B are packed into
 * panels of 4 rows ([panel][t][4], so the tile reads both operands as contiguous streams) and every entry
 * of C gets that chunk's sum, accumulated from zero in order, exactly as {@link tile} does.
 *
 * @returns false (nothing done) when the kernels are not available.
 */
function wasmProduct(
  a: Float64Array,
  m4: number,
  b: Float64Array,
  p4: number,
  k: number,
  c: Float64Array,
  ld: Strides,
  upper: boolean,
  accumulate: boolean,
): boolean {
  const kcMax = Math.min(KC, k);
  const offA = m4 * p4;
  const offB = offA + m4 * kcMax;
  const ar = arena((offB + p4 * kcMax) * 8);
  if (ar === null) return false;
  const h = new Float64Array(ar.memory.buffer);
  const batch = new Batch(ar);
  const ldc = ld.c;
  // Row i of C is only touched from column i - i mod 4 on in upper mode (the first micro tile that is
  // not below the diagonal), so only that part travels.
  const from = (i: number) => (upper ? Math.min(i - (i % 4), p4) : 0);
  if (accumulate)
    for (let i = 0; i < m4; i++) h.set(c.subarray(i * ldc + from(i), i * ldc + p4), i * p4 + from(i));
  else h.fill(0, 0, m4 * p4);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kc = Math.min(KC, k - k0);
    pack4(a, ld.a, m4, k0, kc, h, offA);
    pack4(b, ld.b, p4, k0, kc, h, offB);
    const o = { pa: offA * 8, pb: offB * 8, bPanel: kc * 32, bStep: 32, pc: 0, cRow: p4 * 8, cPanel: 32 };
    queueTiles(batch, o, m4, p4, kc, upper, 0, W_MC, W_NC);
    batch.run(upper ? (m4 * p4 * kc) / 2 : m4 * p4 * kc);
  }
  for (let i = 0; i < m4; i++) c.set(h.subarray(i * p4 + from(i), i * p4 + p4), i * ldc + from(i));
  releaseArena();
  return true;
}

/** dst[off + (panel * kc + t) * 4 + r] = src[(4 panel + r) * ld + k0 + t] for rows < rows4, t < kc. */
export function pack4(
  src: Float64Array,
  ld: number,
  rows4: number,
  k0: number,
  kc: number,
  dst: Float64Array,
  off: number,
): void {
  for (let q = 0; q < rows4; q += 4) {
    const base = off + q * kc;
    for (let r = 0; r < 4; r++) {
      const s = (q + r) * ld + k0;
      let d = base + r;
      for (let t = 0; t < kc; t++, d += 4) dst[d] = src[s + t];
    }
  }
}

function tile(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  ld: Strides,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  k0: number,
  k1: number,
  upper: boolean,
): void {
  const lda = ld.a;
  const ldb = ld.b;
  const p = ld.c;
  let i = i0;
  // A 4 x 2 register block: six loads feed eight multiply-adds, and the eight independent sums hide
  // the latency of the additions.
  for (; i + 3 < i1; i += 4) {
    const r0 = i * lda;
    const r1 = r0 + lda;
    const r2 = r1 + lda;
    const r3 = r2 + lda;
    let j = upper ? Math.max(j0, i) : j0;
    for (; j + 1 < j1; j += 2) {
      const sa = j * ldb;
      const sb = sa + ldb;
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
      for (let r = i; r < i + 4; r++) dotInto(a, b, c, ld, r, j, k0, k1);
    }
  }
  for (; i < i1; i++) {
    for (let j = upper ? Math.max(j0, i) : j0; j < j1; j++) dotInto(a, b, c, ld, i, j, k0, k1);
  }
}

function dotInto(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  ld: Strides,
  i: number,
  j: number,
  k0: number,
  k1: number,
): void {
  const ra = i * ld.a;
  const sa = j * ld.b;
  let s = 0;
  for (let t = k0; t < k1; t++) s += a[ra + t] * b[sa + t];
  c[i * ld.c + j] += s;
}

/** Copy the upper triangle of a square row-major matrix onto its lower triangle (32 x 32 tiles). */
export function mirrorUpper(c: Float64Array, n: number): void {
  for (let i0 = 0; i0 < n; i0 += 32) {
    const i1 = Math.min(i0 + 32, n);
    for (let j0 = 0; j0 <= i0; j0 += 32) {
      for (let i = i0; i < i1; i++) {
        const row = i * n;
        const j1 = Math.min(j0 + 32, i);
        for (let j = j0; j < j1; j++) c[row + j] = c[j * n + i];
      }
    }
  }
}

/** A matrix read through strides: G[i, t] = src[off + i si + t st] (row-major, or a transposed view). */
export interface Strided {
  src: Float64Array;
  off: number;
  si: number;
  st: number;
}

/**
 * C[i, j] -= sum_{t < k} G[i, t] G[j, t] for i < rows and i <= j < cols (the upper triangle, C row-major
 * with row stride ldc; entries just below the diagonal may be written too), through
 * {@link multiplyABt}: the update of a blocked Cholesky factorisation.
 */
export function subtractGramUpper(
  g: Strided,
  rows: number,
  cols: number,
  k: number,
  c: Float64Array,
  ldc: number,
): void {
  const gc = new Float64Array(cols * k);
  for (let i = 0; i < cols; i++)
    for (let t = 0; t < k; t++) gc[i * k + t] = g.src[g.off + i * g.si + t * g.st];
  const ng = gc.map((v) => -v);
  multiplyABt(ng, rows, gc, cols, k, c, { accumulate: true, upper: true, ldc });
}

/**
 * {@link subtractGramUpper} with C in the arena `h` (from element cOff) updated in place on the product
 * tile: G and -G packed in panels of 4 rows at `scratch` (room for 2 cols k values), tiles below the
 * diagonal skipped, the last rows and columns (mod 4) in plain loops.
 */
export function subtractGramUpperInArena(
  batch: Batch,
  h: Float64Array,
  g: Strided,
  rows: number,
  cols: number,
  k: number,
  cOff: number,
  ldc: number,
  scratch: number,
): void {
  const { src, off, si, st } = g;
  const r4 = rows - (rows % 4);
  const c4 = cols - (cols % 4);
  const pb = scratch;
  const pa = scratch + c4 * k;
  for (let j = 0; j < c4; j += 4) {
    for (let t = 0; t < k; t++) {
      for (let r = 0; r < 4; r++) {
        const v = src[off + (j + r) * si + t * st];
        h[pb + j * k + t * 4 + r] = v;
        if (j < r4) h[pa + j * k + t * 4 + r] = -v;
      }
    }
  }
  const o = { pa: pa * 8, pb: pb * 8, bPanel: k * 32, bStep: 32, pc: cOff * 8, cRow: ldc * 8, cPanel: 32 };
  queueTiles(batch, o, r4, c4, k, true);
  batch.run(r4 * (c4 - r4 / 2) * k);
  for (let i = 0; i < rows; i++) {
    for (let j = i < r4 ? Math.max(i, c4) : i; j < cols; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += src[off + i * si + t * st] * src[off + j * si + t * st];
      h[cOff + i * ldc + j] -= acc;
    }
  }
}
