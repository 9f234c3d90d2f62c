/**
 * Two-stage reduction of a symmetric matrix to tridiagonal form, for eigenvalues without vectors.
 *
 * The one-stage Householder reduction (eigen.ts) streams the whole trailing matrix through memory twice
 * per column, which caps it at the memory bandwidth. Here stage 1 reduces the matrix to a band of
 * half-width b with block reflectors (Q = I - V T V^T per panel of b columns), so that nearly all its
 * work is two matrix products per panel on the WebAssembly tile: X = V^T A22 and the rank-2b update
 * A22 -= V W^T + W V^T (upper triangle, then mirrored). Stage 2 chases the band down to tridiagonal form
 * with Givens rotations (Rutishauser / Schwarz) on a compact copy of the band: O(n^2 b) work.
 * Both stages are orthogonal similarity transforms, so the eigenvalues are those of the input up to
 * float64 rounding. Internal: not exported from the package.
 */
import { type Arena, arena, Batch, G64, NO_DIAG, releaseArena } from './wasm.js';

/** Half bandwidth of the intermediate band. */
const B = 8;
/** Columns of A22 per call of X = V^T A22; rows x columns per tile of the rank-2b update. */
const X_COLS = 128;
const U_ROWS = 64;
const U_COLS = 128;

/**
 * Tridiagonal form (d: diagonal, e[i] = T[i, i-1], e[0] = 0) of the symmetric `w` ([n, n], both triangles;
 * not modified), or false when the WebAssembly kernels are not available.
 */
export function tridiagonalizeTwoStage(
  w: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
): boolean {
  const b = B;
  const panels = Math.ceil(n / 4);
  const size = panels * n * 4;
  const mPad = n + 4;
  // Arena: A in column panels; X [b, mPad]; packed [V | W] and [-W | -V] (mPad rows x 2b each).
  const offX = size;
  const offP = offX + b * mPad;
  const offQ = offP + mPad * 2 * b;
  const ar = arena((offQ + mPad * 2 * b) * 8);
  if (ar === null) return false;
  const h = new Float64Array(ar.memory.buffer);
  h.fill(0, 0, size);
  for (let q = 0; q < panels; q++) {
    const base = q * n * 4;
    const cols = Math.min(4, n - 4 * q);
    for (let i = 0; i < n; i++) {
      const src = i * n + 4 * q;
      for (let c = 0; c < cols; c++) h[base + i * 4 + c] = w[src + c];
    }
  }
  reduceToBand(ar, h, n, b, offX, offP, offQ, mPad);
  const band = compactBand(h, n, b);
  releaseArena();
  bandToTridiagonal(band, n, b, d, e);
  return true;
}

/**
 * Stage 1: A to half-bandwidth b, in place. A is stored in panels of 4 columns (entry (i, j) at
 * ((j >> 2) n + i) 4 + (j & 3)), so that a column, a 4 x 4 block and the operand of a product read
 * contiguously.
 */
function reduceToBand(
  ar: Arena,
  h: Float64Array,
  n: number,
  b: number,
  offX: number,
  offP: number,
  offQ: number,
  mPad: number,
): void {
  const at = (i: number, j: number) => ((j >> 2) * n + i) * 4 + (j & 3);
  const batch = new Batch(ar);
  const v = new Float64Array(n * b);
  const y = new Float64Array(n * b);
  const t = new Float64Array(b * b);
  const tau = new Float64Array(b);
  const z = new Float64Array(b * b);
  const vty = new Float64Array(b * b);
  const g = new Float64Array(b);
  const xi = new Float64Array(b);
  for (let k = 0; k + b < n - 1; k += b) {
    const r0 = k + b; // first row (and column) of A22; a multiple of 4
    const m = n - r0;
    const kb = Math.min(b, m);
    // Householder QR of the panel A[r0:, k:k+b] (m x b), reflectors into v ([m, b], unit lower).
    v.fill(0, 0, m * b);
    for (let j = 0; j < kb; j++) {
      const cj = at(r0, k + j); // column k + j from row r0: stride 4
      let xnorm = 0;
      for (let i = j + 1; i < m; i++) xnorm += h[cj + 4 * i] ** 2;
      xnorm = Math.sqrt(xnorm);
      const alpha = h[cj + 4 * j];
      v[j * b + j] = 1;
      if (xnorm === 0) {
        tau[j] = 0;
        continue;
      }
      const beta = -Math.sign(alpha || 1) * Math.hypot(alpha, xnorm);
      tau[j] = (beta - alpha) / beta;
      const scale = 1 / (alpha - beta);
      for (let i = j + 1; i < m; i++) {
        v[i * b + j] = h[cj + 4 * i] * scale;
        h[cj + 4 * i] = 0;
      }
      h[cj + 4 * j] = beta;
      // H = I - tau v v^T on the panel's later columns.
      for (let c = j + 1; c < b; c++) {
        const cc = at(r0, k + c);
        let s = h[cc + 4 * j];
        for (let i = j + 1; i < m; i++) s += v[i * b + j] * h[cc + 4 * i];
        s *= tau[j];
        h[cc + 4 * j] -= s;
        for (let i = j + 1; i < m; i++) h[cc + 4 * i] -= s * v[i * b + j];
      }
    }
    // The panel is now R (upper trapezoidal, zeros below): mirror it into the rows above A22.
    for (let c = 0; c < b; c++) {
      const cc = at(r0, k + c);
      for (let i = 0; i < m; i++) h[at(k + c, r0 + i)] = h[cc + 4 * i];
    }
    // T: Q = H_0 ... H_{kb-1} = I - V T V^T (T upper triangular).
    t.fill(0);
    for (let j = 0; j < kb; j++) {
      t[j * b + j] = tau[j];
      if (j === 0 || tau[j] === 0) continue;
      // t[0:j, j] = -tau_j T[0:j, 0:j] (V[:, 0:j]^T v_j)
      g.fill(0);
      for (let i = j; i < m; i++) {
        const vij = v[i * b + j];
        if (vij === 0) continue;
        for (let c = 0; c < j; c++) g[c] += v[i * b + c] * vij;
      }
      for (let r = 0; r < j; r++) {
        let s = 0;
        for (let c = r; c < j; c++) s += t[r * b + c] * g[c];
        t[r * b + j] = -tau[j] * s;
      }
    }
    // X = V^T A22 ([b, m]) on the tile: V^T packed in panels of 4 rows, A22's column panels read in
    // place (symmetric: column j of A22 is its row j).
    const m4 = m - (m % 4);
    for (let q = 0; q < b; q += 4) {
      const base = offP + q * m;
      for (let i = 0; i < m; i++) for (let r = 0; r < 4; r++) h[base + i * 4 + r] = v[i * b + q + r];
    }
    h.fill(0, offX, offX + b * mPad);
    for (let j0 = 0; j0 < m4; j0 += X_COLS) {
      const nc = Math.min(X_COLS, m4 - j0);
      batch.add(
        G64,
        offP * 8,
        at(r0, r0 + j0) * 8,
        n * 32,
        32,
        (offX + j0) * 8,
        mPad * 8,
        32,
        b / 4,
        nc / 4,
        m,
        NO_DIAG,
      );
    }
    batch.run(b * m * m);
    for (let j = m4; j < m; j++) {
      const cj = at(r0, r0 + j);
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += v[i * b + c] * h[cj + 4 * i];
        h[offX + c * mPad + j] = s;
      }
    }
    // Y = X^T T ([m, b]); Z = T^T (V^T Y); W = Y - V Z / 2 (into y).
    for (let i = 0; i < m; i++) {
      for (let q = 0; q < b; q++) xi[q] = h[offX + q * mPad + i];
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let q = 0; q <= c; q++) s += xi[q] * t[q * b + c];
        y[i * b + c] = s;
      }
    }
    vty.fill(0);
    for (let i = 0; i < m; i++) {
      for (let c1 = 0; c1 < b; c1++) {
        const vi = v[i * b + c1];
        if (vi === 0) continue;
        for (let c2 = 0; c2 < b; c2++) vty[c1 * b + c2] += vi * y[i * b + c2];
      }
    }
    for (let r = 0; r < b; r++) {
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let q = 0; q <= r; q++) s += t[q * b + r] * vty[q * b + c];
        z[r * b + c] = s;
      }
    }
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let q = 0; q < b; q++) s += v[i * b + q] * z[q * b + c];
        y[i * b + c] -= 0.5 * s;
      }
    }
    // A22 += [V | W] [-W | -V]^T on the tile: packed operands, A22's 4 x 4 blocks in place. Both
    // triangles (a mirror would cost more than the products it saves: it reads across column panels).
    const b2 = 2 * b;
    for (let q = 0; q < m4; q += 4) {
      const pb = offP + q * b2;
      const qb = offQ + q * b2;
      for (let c = 0; c < b; c++) {
        for (let r = 0; r < 4; r++) {
          const i = q + r;
          h[pb + c * 4 + r] = v[i * b + c];
          h[pb + (b + c) * 4 + r] = y[i * b + c];
          h[qb + c * 4 + r] = -y[i * b + c];
          h[qb + (b + c) * 4 + r] = -v[i * b + c];
        }
      }
    }
    for (let i0 = 0; i0 < m4; i0 += U_ROWS) {
      const mr = Math.min(U_ROWS, m4 - i0);
      for (let j0 = 0; j0 < m4; j0 += U_COLS) {
        const nc = Math.min(U_COLS, m4 - j0);
        batch.add(
          G64,
          (offP + i0 * b2) * 8,
          (offQ + j0 * b2) * 8,
          b2 * 32,
          32,
          at(r0 + i0, r0 + j0) * 8,
          32,
          n * 32,
          mr / 4,
          nc / 4,
          b2,
          NO_DIAG,
        );
      }
    }
    batch.run(2 * b * m * m);
    // Fringe rows and columns (m mod 4) in plain loops.
    for (let i = 0; i < m; i++) {
      for (let j = i < m4 ? m4 : 0; j < m; j++) h[at(r0 + i, r0 + j)] -= rank2(v, y, b, i, j);
    }
  }
}

/** sum_c V[i, c] W[j, c] + W[i, c] V[j, c]. */
function rank2(v: Float64Array, w: Float64Array, b: number, i: number, j: number): number {
  let s = 0;
  for (let c = 0; c < b; c++) s += v[i * b + c] * w[j * b + c] + w[i * b + c] * v[j * b + c];
  return s;
}

/** band[i (b + 2) + s] = A[i, i - s] (A in column panels) for s <= b; slot b + 1 (the bulge) zero. */
function compactBand(h: Float64Array, n: number, b: number): Float64Array {
  const w = b + 2;
  const band = new Float64Array(n * w);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s <= Math.min(b, i); s++) {
      const j = i - s;
      band[i * w + s] = h[((j >> 2) * n + i) * 4 + (j & 3)];
    }
  }
  return band;
}

/**
 * Stage 2: the symmetric band matrix (lower band, half-bandwidth b, compact rows of b + 2 with a bulge
 * slot) to tridiagonal form. Column by column, each entry below the sub-diagonal is annihilated by a
 * rotation of the rows and columns (r - 1, r); the entry that rotation creates b rows further down (the
 * bulge) is annihilated by the next rotation, and so on off the end of the matrix.
 */
export function bandToTridiagonal(
  band: Float64Array,
  n: number,
  b: number,
  d: Float64Array,
  e: Float64Array,
): void {
  const w = b + 2;
  for (let j = 0; j + 2 < n; j++) {
    for (let r0 = Math.min(j + b, n - 1); r0 >= j + 2; r0--) {
      let row = r0;
      let col = j;
      for (;;) {
        const x = band[row * w + row - col];
        if (x === 0) break;
        const p = row - 1;
        const a = band[p * w + p - col];
        const hyp = Math.hypot(a, x);
        const c = a / hyp;
        const s = x / hyp;
        band[p * w + p - col] = hyp;
        band[row * w + row - col] = 0;
        rotate(band, n, b, p, c, s, col);
        if (row + b >= n) break;
        col = p;
        row += b;
      }
    }
  }
  e[0] = 0;
  for (let i = 0; i < n; i++) {
    d[i] = band[i * w];
    if (i > 0) e[i] = band[i * w + 1];
  }
}

/**
 * Rows and columns p and q = p + 1 of the band matrix times the rotation [[c, s], [-s, c]] on both sides,
 * except the entry in column `skip` (already set by the caller).
 */
function rotate(
  band: Float64Array,
  n: number,
  b: number,
  p: number,
  c: number,
  s: number,
  skip: number,
): void {
  const w = b + 2;
  const q = p + 1;
  const rp = p * w;
  const rq = q * w;
  // Row parts: columns x in [p - b, p), offsets p - x in row p and q - x in row q.
  for (let x = Math.max(0, p - b); x < p; x++) {
    if (x === skip) continue;
    const i = rp + p - x;
    const k = rq + q - x;
    const u = band[i];
    const v = band[k];
    band[i] = c * u + s * v;
    band[k] = c * v - s * u;
  }
  // Column parts: rows y in (q, q + b], entries A[y, p] and A[y, q].
  const yEnd = Math.min(n - 1, q + b);
  for (let y = q + 1; y <= yEnd; y++) {
    const ry = y * w;
    const i = ry + y - p;
    const k = ry + y - q;
    const u = band[i];
    const v = band[k];
    band[i] = c * u + s * v;
    band[k] = c * v - s * u;
  }
  // The 2 x 2 block.
  const app = band[rp];
  const aqp = band[rq + 1];
  const aqq = band[rq];
  const cc = c * c;
  const ss = s * s;
  const cs = c * s;
  band[rp] = cc * app + 2 * cs * aqp + ss * aqq;
  band[rq] = ss * app - 2 * cs * aqp + cc * aqq;
  band[rq + 1] = cs * (aqq - app) + (cc - ss) * aqp;
}
