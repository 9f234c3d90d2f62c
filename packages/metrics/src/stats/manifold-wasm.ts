/**
 * The fast route of {@link precisionRecall} and {@link manifoldRadii} with the default distance kernel:
 * exactly the float64 results of {@link pairwiseSquaredDistances}, at the speed of a float32 product.
 *
 * Every distance is first estimated in float32 (features centred on a common point, so that the
 * estimate is accurate relative to the distance rather than to |x|^2, then a WebAssembly f32x4 product
 * tile), with a rigorous bound on how far the estimate can be from the float64 value the reference kernel
 * computes. A decision (is this distance below a point's current k-th neighbour, or inside a ball?) that
 * the estimate settles with its bound is taken from it; the few that fall within the bound of the
 * threshold are settled by computing that one distance exactly as the reference does (same operations,
 * same order, so the same bits). Own-set distances are symmetric, so each pair of points is estimated once
 * and offered to both neighbour lists, with each direction's float64 value.
 *
 * Memory: a packed float32 copy of each feature set ([N, dim] rounded up to 8 rows) and one
 * [B, B] float32 block of products (B = 1024); no N x N matrix.
 */
import type { FloatArray } from './checks.js';
import { arena, Batch, G32, NO_DIAG, releaseArena } from './wasm.js';

/** Columns of the inner dimension per pass of the product (the same chunking as gemm.ts). */
const KC = 256;
/** Rows (and columns) of one block of products. */
const BLOCK = 1024;
/** Rows per tile call within a block: the packed A rows of one chunk stay in cache. */
const ROWS_PER_CALL = 128;
const U32 = 2 ** -24;
const U64 = 2 ** -53;

/** A feature set packed for the f32 tile, with the norms the bounds and the exact distances need. */
interface Packed {
  x: FloatArray;
  n: number;
  /** n rounded up to a multiple of 8. */
  nPad: number;
  /** Float offset of the packed copy in the arena. */
  off: number;
  /** Reference squared norms (float64, in order), as pairwiseSquaredDistances computes them. */
  norms: Float64Array;
  /** Squared norms of the centred float32 rows. */
  qn: Float64Array;
  /** Their square roots. */
  rn: Float64Array;
}

/** Work shared by the passes: the arena views and the bound's constants. */
interface Context {
  dim: number;
  f32: Float32Array;
  batch: Batch;
  /** Float offset of the product block. */
  cOff: number;
  /** Its row stride: BLOCK, or less for small sets. */
  ldc: number;
  /** Relative part of the bound, times (|a'| + |b'|)^2. */
  rel: number;
  /** Part of the bound times (norm_a + norm_b + qa + qb). */
  ref: number;
  /** Part of the bound times (|a'| + |b'| + 1): float32 underflow. */
  abs: number;
}

function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/**
 * Sets up the arena for feature sets of `ns` rows: returns the context and the packed sets, or null when
 * the WebAssembly kernels are not available (or the values do not fit float32 with room to spare).
 */
function prepare(sets: FloatArray[], ns: number[], dim: number): { ctx: Context; packed: Packed[] } | null {
  // Centre: the mean of the first set (any common point gives the same distances).
  const centre = new Float64Array(dim);
  const x0 = sets[0];
  for (let i = 0; i < ns[0]; i++) {
    const o = i * dim;
    for (let t = 0; t < dim; t++) centre[t] += x0[o + t];
  }
  for (let t = 0; t < dim; t++) centre[t] /= ns[0];
  const ldc = Math.min(BLOCK, roundUp8(Math.max(...ns)));
  let total = ldc * ldc;
  const offs: number[] = [];
  for (const n of ns) {
    offs.push(total);
    total += roundUp8(n) * dim;
  }
  const ar = arena(total * 4);
  if (ar === null) return null;
  const f32 = new Float32Array(ar.memory.buffer);
  const packed: Packed[] = [];
  for (let s = 0; s < sets.length; s++) {
    const x = sets[s];
    const n = ns[s];
    const nPad = roundUp8(n);
    const off = offs[s];
    const norms = new Float64Array(n);
    const qn = new Float64Array(n);
    const rn = new Float64Array(n);
    f32.fill(0, off, off + nPad * dim);
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      let sq = 0;
      let q = 0;
      const panel = i >> 3;
      const r = i & 7;
      for (let k0 = 0; k0 < dim; k0 += KC) {
        const kc = Math.min(KC, dim - k0);
        let d = off + k0 * nPad + panel * kc * 8 + r;
        for (let t = k0; t < k0 + kc; t++, d += 8) {
          const v = x[o + t];
          sq += v * v;
          const c = Math.fround(v - centre[t]);
          // Far from float32's range: dim products of such values cannot overflow.
          if (!(Math.abs(c) < 1e15)) {
            releaseArena();
            return null;
          }
          f32[d] = c;
          q += c * c;
        }
      }
      norms[i] = sq;
      qn[i] = q;
      rn[i] = Math.sqrt(q);
    }
    packed.push({ x, n, nPad, off, norms, qn, rn });
  }
  // The float32 dot product of a chunk is a sum of at most KC rounded products, and the chunks add up in
  // float32: at most L = min(dim, KC) + ceil(dim / KC) roundings along any entry's chain.
  const L = Math.min(dim, KC) + Math.ceil(dim / KC) + 1;
  const gamma = (L * U32) / (1 - L * U32);
  // Centring rounds each coordinate once in float64 and once to float32 (u1), which moves a distance by
  // at most (2 u1 + u1^2)(|a'| + |b'|)^2; the product errs by at most gamma |a'||b'| <= gamma/4 (|a'|+|b'|)^2,
  // twice that in the distance.
  const u1 = U32 * (1 + 2 ** -28);
  const rel = (gamma / 2 + 2 * u1 + u1 * u1) * (1 + 1e-6) + 1e-12;
  // The reference's own float64 rounding (chains of dim terms, then two operations), and that of the
  // estimate's float64 operations, both far below the float32 part.
  const ref = 4 * (dim + 8) * U64;
  // Products or coordinates below float32's normal range lose at most 2^-149 each.
  const abs = dim * 1e-43;
  return { ctx: { dim, f32, batch: new Batch(ar), cOff: 0, ldc, rel, ref, abs }, packed };
}

/** Products of rows [r0, r1) of `a` with rows [c0, c1) of `b` into the context's block (row stride ldc). */
function products(ctx: Context, a: Packed, r0: number, r1: number, b: Packed, c0: number, c1: number): void {
  const { dim, f32, batch, cOff, ldc } = ctx;
  const rows = roundUp8(r1 - r0);
  const cols = roundUp8(c1 - c0);
  f32.fill(0, cOff, cOff + rows * ldc);
  for (let k0 = 0; k0 < dim; k0 += KC) {
    const kc = Math.min(KC, dim - k0);
    const pb = (b.off + k0 * b.nPad + (c0 >> 3) * kc * 8) * 4;
    for (let i0 = 0; i0 < rows; i0 += ROWS_PER_CALL) {
      const mr = Math.min(ROWS_PER_CALL, rows - i0);
      const pa = (a.off + k0 * a.nPad + ((r0 + i0) >> 3) * kc * 8) * 4;
      batch.add(G32, pa, pb, kc * 32, 32, (cOff + i0 * ldc) * 4, ldc * 4, 32, mr / 4, cols / 8, kc, NO_DIAG);
    }
    batch.run(rows * cols * kc);
  }
}

/** The reference kernel's float64 dot product: chunks of KC summed in order, added up in order. */
function exactDot(x: FloatArray, xo: number, y: FloatArray, yo: number, dim: number): number {
  let c = 0;
  for (let k0 = 0; k0 < dim; k0 += KC) {
    const k1 = Math.min(k0 + KC, dim);
    let s = 0;
    for (let t = k0; t < k1; t++) s += x[xo + t] * y[yo + t];
    c += s;
  }
  return c;
}

/** Inserts v into the ascending `slots`-entry buffer at b when it is below the current last entry. */
export function offer(best: Float64Array, b: number, k: number, v: number): void {
  if (!(v < best[b + k])) return;
  let s = b + k;
  while (s > b && best[s - 1] > v) {
    best[s] = best[s - 1];
    s--;
  }
  best[s] = v;
}

/** Bound on |estimate - reference| for a pair: centred norms ra, rb, reference norms na, nb, centred squares qa, qb. */
function bound(ctx: Context, ra: number, rb: number, na: number, nb: number, qa: number, qb: number): number {
  const s = ra + rb;
  return ctx.rel * s * s + ctx.ref * (na + nb + qa + qb) + ctx.abs * (s + 1) + 1e-36;
}

/** Largest entry of v[from:to]. */
function maxOf(v: Float64Array, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) if (v[i] > m) m = v[i];
  return m;
}

/**
 * Squared k-NN radii within one set, equal to the reference's.
 *
 * Per point: `ub`, the k + 1 smallest upper bounds (estimate + bound) seen so far, whose last entry tau
 * bounds the radius from above; and a list of candidates, the points whose lower bound was at most tau
 * when they were seen. At the end only the candidates still within the final tau can be among the k + 1
 * nearest, and those distances are computed exactly; the radius is the (k+1)-th smallest of them. A full
 * candidate list is pruned by the current tau, or else settled exactly on the spot.
 */
function radiiOf(ctx: Context, p: Packed, k: number): Float64Array {
  const { dim, f32, cOff, ldc } = ctx;
  const { x, n, norms, qn, rn } = p;
  const slots = k + 1;
  const best = new Float64Array(n * slots).fill(Number.POSITIVE_INFINITY);
  const ub = new Float64Array(n * slots).fill(Number.POSITIVE_INFINITY);
  const cap = 8 * slots;
  const candIdx = new Int32Array(n * cap);
  const candLo = new Float64Array(n * cap);
  const candLen = new Int32Array(n);
  const exact = (i: number, j: number) =>
    Math.max(norms[i] - 2 * exactDot(x, i * dim, x, j * dim, dim) + norms[j], 0);
  const addCandidate = (i: number, j: number, lo: number) => {
    const b = i * cap;
    let len = candLen[i];
    if (len === cap) {
      const tau = ub[i * slots + k];
      let w = 0;
      for (let q = 0; q < len; q++) {
        if (candLo[b + q] <= tau) {
          candIdx[b + w] = candIdx[b + q];
          candLo[b + w] = candLo[b + q];
          w++;
        }
      }
      len = w;
      if (len === cap) {
        for (let q = 0; q < len; q++) offer(best, i * slots, k, exact(i, candIdx[b + q]));
        len = 0;
      }
    }
    candIdx[b + len] = j;
    candLo[b + len] = lo;
    candLen[i] = len + 1;
  };
  // Each point's distance to itself, exactly as the reference has it.
  for (let i = 0; i < n; i++) {
    const v = exact(i, i);
    offer(best, i * slots, k, v);
    offer(ub, i * slots, k, v);
  }
  const colThreshold = new Float64Array(BLOCK);
  const colBound = new Float64Array(BLOCK);
  for (let r0 = 0; r0 < n; r0 += BLOCK) {
    const r1 = Math.min(r0 + BLOCK, n);
    const rMaxR = maxOf(rn, r0, r1);
    const nMaxR = maxOf(norms, r0, r1);
    const qMaxR = maxOf(qn, r0, r1);
    for (let c0 = r0; c0 < n; c0 += BLOCK) {
      const c1 = Math.min(c0 + BLOCK, n);
      products(ctx, p, r0, r1, p, c0, c1);
      const rMaxC = maxOf(rn, c0, c1);
      const nMaxC = maxOf(norms, c0, c1);
      const qMaxC = maxOf(qn, c0, c1);
      // An estimate above tau + (the largest bound in this block) settles nothing: the fast test.
      for (let j = c0; j < c1; j++) {
        colBound[j - c0] = bound(ctx, rMaxR, rn[j], nMaxR, norms[j], qMaxR, qn[j]);
        colThreshold[j - c0] = ub[j * slots + k] + colBound[j - c0];
      }
      for (let i = r0; i < r1; i++) {
        const bi = i * slots;
        const o = cOff + (i - r0) * ldc - c0;
        const qi = qn[i];
        const ri = rn[i];
        const ni = norms[i];
        const rowBound = bound(ctx, ri, rMaxC, ni, nMaxC, qi, qMaxC);
        let rowThreshold = ub[bi + k] + rowBound;
        for (let j = c0 === r0 ? i + 1 : c0; j < c1; j++) {
          const est = qi + qn[j] - 2 * f32[o + j];
          if (est > rowThreshold && est > colThreshold[j - c0]) continue;
          const tol = bound(ctx, ri, rn[j], ni, norms[j], qi, qn[j]);
          const lo = est - tol;
          const hi = est + tol;
          if (hi < ub[bi + k]) {
            offer(ub, bi, k, hi);
            rowThreshold = ub[bi + k] + rowBound;
          }
          if (lo <= ub[bi + k]) addCandidate(i, j, lo);
          const bj = j * slots;
          if (hi < ub[bj + k]) {
            offer(ub, bj, k, hi);
            colThreshold[j - c0] = ub[bj + k] + colBound[j - c0];
          }
          if (lo <= ub[bj + k]) addCandidate(j, i, lo);
        }
      }
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const tau = ub[i * slots + k];
    const b = i * cap;
    for (let q = 0; q < candLen[i]; q++) {
      if (candLo[b + q] <= tau) offer(best, i * slots, k, exact(i, candIdx[b + q]));
    }
    out[i] = best[i * slots + k];
  }
  return out;
}

/**
 * The reference's radii of `x` ([n, dim]) through the float32 estimate, or null when the WebAssembly
 * kernels are not available here.
 */
export function fastRadii(x: FloatArray, n: number, dim: number, k: number): Float64Array | null {
  const prep = prepare([x], [n], dim);
  if (prep === null) return null;
  try {
    return radiiOf(prep.ctx, prep.packed[0], k);
  } finally {
    releaseArena();
  }
}

/**
 * Precision and recall as the reference computes them (radii, then every real-fake pair against both
 * balls), or null when the WebAssembly kernels are not available here.
 */
export function fastPrecisionRecall(
  real: FloatArray,
  nr: number,
  fake: FloatArray,
  nf: number,
  dim: number,
  k: number,
): { realIn: Uint8Array; fakeIn: Uint8Array } | null {
  const prep = prepare([real, fake], [nr, nf], dim);
  if (prep === null) return null;
  try {
    const { ctx } = prep;
    const [pr, pf] = prep.packed;
    const rr = radiiOf(ctx, pr, k);
    const fr = radiiOf(ctx, pf, k);
    const { dim: d, f32, cOff, ldc } = ctx;
    const fakeIn = new Uint8Array(nf);
    const realIn = new Uint8Array(nr);
    const exact = (i: number, j: number) =>
      Math.max(pr.norms[i] - 2 * exactDot(real, i * d, fake, j * d, d) + pf.norms[j], 0);
    const colThreshold = new Float64Array(BLOCK);
    for (let r0 = 0; r0 < nr; r0 += BLOCK) {
      const r1 = Math.min(r0 + BLOCK, nr);
      const rMaxR = maxOf(pr.rn, r0, r1);
      const nMaxR = maxOf(pr.norms, r0, r1);
      const qMaxR = maxOf(pr.qn, r0, r1);
      for (let c0 = 0; c0 < nf; c0 += BLOCK) {
        const c1 = Math.min(c0 + BLOCK, nf);
        if (allSet(realIn, r0, r1) && allSet(fakeIn, c0, c1)) continue;
        products(ctx, pr, r0, r1, pf, c0, c1);
        const rMaxC = maxOf(pf.rn, c0, c1);
        const nMaxC = maxOf(pf.norms, c0, c1);
        const qMaxC = maxOf(pf.qn, c0, c1);
        // est > radius + (the largest bound in the block): certainly outside that ball.
        for (let j = c0; j < c1; j++) {
          colThreshold[j - c0] = fr[j] + bound(ctx, rMaxR, pf.rn[j], nMaxR, pf.norms[j], qMaxR, pf.qn[j]);
        }
        for (let i = r0; i < r1; i++) {
          const o = cOff + (i - r0) * ldc - c0;
          const qi = pr.qn[i];
          const ri = pr.rn[i];
          const ni = pr.norms[i];
          const radius = rr[i];
          const rowThreshold = radius + bound(ctx, ri, rMaxC, ni, nMaxC, qi, qMaxC);
          let inside = realIn[i];
          for (let j = c0; j < c1; j++) {
            const est = qi + pf.qn[j] - 2 * f32[o + j];
            if ((fakeIn[j] !== 0 || est > rowThreshold) && (inside !== 0 || est > colThreshold[j - c0]))
              continue;
            const tol = bound(ctx, ri, pf.rn[j], ni, pf.norms[j], qi, pf.qn[j]);
            const fj = fr[j];
            // Each open question: settled by the estimate, else by the exact distance.
            let v = Number.NaN;
            if (fakeIn[j] === 0) {
              if (est + tol <= radius) fakeIn[j] = 1;
              else if (!(est - tol > radius)) {
                v = exact(i, j);
                if (v <= radius) fakeIn[j] = 1;
              }
            }
            if (inside === 0) {
              if (est + tol <= fj) inside = 1;
              else if (!(est - tol > fj)) {
                if (Number.isNaN(v)) v = exact(i, j);
                if (v <= fj) inside = 1;
              }
            }
          }
          realIn[i] = inside;
        }
      }
    }
    return { realIn, fakeIn };
  } finally {
    releaseArena();
  }
}

/** Whether flags[from..to) are all non-zero (a block whose rows are all settled can be skipped). */
export function allSet(flags: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (flags[i] === 0) return false;
  return true;
}
