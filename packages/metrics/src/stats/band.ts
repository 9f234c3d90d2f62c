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
import { hypot } from './hypot.js';
import { type Arena, arena, Batch, G64, NO_DIAG, queueTiles, releaseArena } from './wasm.js';

/** Half bandwidth of the intermediate band. */
const B = 8;
/** Panels whose updates of the trailing matrix are gathered into one. */
const G = 8;
/** Columns of A22 per call of X = V^T A22. */
const X_COLS = 128;

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
  const w2 = 2 * b * G;
  // Arena, after A in column panels: X [b, mPad] in panels of 4 columns; V packed by 4 columns (V^T) and
  // by 4 rows; Y (then W) [mPad, b]; T, V^T Y and -Z / 2 [b, b]; the group's [V_0 W_0 V_1 W_1 ..]
  // row-major, packed, and packed as [-W_0 -V_0 -W_1 -V_1 ..] (mPad rows x 2 b G each); [P | Q] packed
  // and row-major.
  const x = size;
  const vt = x + b * mPad;
  const vp = vt + b * mPad;
  const y = vp + b * mPad;
  const t = y + b * mPad;
  const vty = t + b * b;
  const z = vty + b * b;
  const r = z + b * b;
  const p = r + mPad * w2;
  const q = p + mPad * w2;
  const pq = q + mPad * w2;
  const pqr = pq + b * w2;
  const ar = arena((pqr + b * w2) * 8);
  if (ar === null) return false;
  const h = new Float64Array(ar.memory.buffer);
  // Every entry is copied below but the unused columns of a last, partial panel.
  if (n % 4 !== 0) h.fill(0, (panels - 1) * n * 4, size);
  // In blocks of 64 rows, so that each row is read from cache by every panel after the first.
  for (let i0 = 0; i0 < n; i0 += 64) {
    const i1 = Math.min(i0 + 64, n);
    for (let c4 = 0; c4 < panels; c4++) {
      const base = c4 * n * 4;
      const cols = Math.min(4, n - 4 * c4);
      for (let i = i0; i < i1; i++) {
        const src = i * n + 4 * c4;
        for (let c = 0; c < cols; c++) h[base + i * 4 + c] = w[src + c];
      }
    }
  }
  reduceToBand(ar, h, n, b, { x, vt, vp, y, t, vty, z, r, p, q, pq, pqr, mPad, w2 });
  const band = compactBand(h, n, b);
  releaseArena();
  bandToTridiagonal(band, n, b, d, e);
  return true;
}

/** Offsets (float64 elements) of the arena's work areas, and their row strides. */
interface Layout {
  x: number;
  vt: number;
  vp: number;
  y: number;
  t: number;
  vty: number;
  z: number;
  r: number;
  p: number;
  q: number;
  pq: number;
  pqr: number;
  mPad: number;
  /** Row stride of the group's areas: 2 b G. */
  w2: number;
}

/**
 * Stage 1: A to half-bandwidth b, in place. A is stored in panels of 4 columns (entry (i, j) at
 * ((j >> 2) n + i) 4 + (j & 3)), so that a column, a 4 x 4 block and the operand of a product read
 * contiguously.
 *
 * The rank-2b updates A22 -= V W^T + W V^T of G consecutive panels are gathered into one rank-2bG update
 * of the trailing matrix (as LAPACK's dsytrd gathers its reflectors): one pass over A22 per G panels
 * instead of one per panel, with an inner dimension deep enough for the product tile to run at speed.
 * Meanwhile each panel's columns are brought up to date before its QR, and its X = V^T A22 (taken from
 * the stale A22) is corrected for the pending update through thin products.
 */
function reduceToBand(ar: Arena, h: Float64Array, n: number, b: number, L: Layout): void {
  const at = (i: number, j: number) => ((j >> 2) * n + i) * 4 + (j & 3);
  const { mPad, w2 } = L;
  const batch = new Batch(ar);
  const v = new Float64Array(n * b);
  const t = new Float64Array(b * b);
  const tau = new Float64Array(b);
  const g = new Float64Array(b);
  // The group: panels since row g0, `inGroup` of them. Row i of its areas is row i - g0 (a multiple of 4
  // plus the row's place in its 4-row block for the packed ones).
  let g0 = 0;
  let inGroup = 0;
  for (let k = 0; k + b < n - 1; k += b) {
    const r0 = k + b; // first row (and column) of A22; a multiple of 4
    const m = n - r0;
    const kb = Math.min(b, m);
    const m4 = m - (m % 4);
    if (inGroup === 0) {
      g0 = k;
      // Slots not filled yet must read as zero: rows g0.. of the packed areas.
      h.fill(0, L.p, L.p + (n - g0 + 4) * w2);
      h.fill(0, L.q, L.q + (n - g0 + 4) * w2);
    } else {
      catchUpPanel(batch, h, n, k, g0, inGroup * b, L, at);
    }
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
      const beta = -Math.sign(alpha || 1) * hypot(alpha, xnorm);
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
      for (let rr = 0; rr < j; rr++) {
        let s = 0;
        for (let c = rr; c < j; c++) s += t[rr * b + c] * g[c];
        t[rr * b + j] = -tau[j] * s;
      }
    }
    // V packed for the tile: by 4 columns (V^T, the A of V^T A22 and V^T Y) and by 4 rows (the A of V Z),
    // zero past row m.
    const mp4 = m4 === m ? m : m4 + 4;
    for (let c4 = 0; c4 < b; c4 += 4) {
      const base = L.vt + c4 * m;
      for (let i = 0; i < m; i++) for (let c = 0; c < 4; c++) h[base + i * 4 + c] = v[i * b + c4 + c];
    }
    for (let i = 0; i < mp4; i++) {
      const base = L.vp + (i - (i & 3)) * b + (i & 3);
      for (let c = 0; c < b; c++) h[base + c * 4] = i < m ? v[i * b + c] : 0;
    }
    // X = V^T A22 ([b, m], in panels of 4 columns) on the tile, A22's column panels read in place
    // (symmetric: column j of A22 is its row j).
    h.fill(0, L.x, L.x + b * mPad);
    const xo = {
      pa: L.vt * 8,
      pb: at(r0, r0) * 8,
      bPanel: n * 32,
      bStep: 32,
      pc: L.x * 8,
      cRow: 32,
      cPanel: b * 32,
    };
    queueTiles(batch, xo, b, m4, m, false, 0, b, X_COLS);
    batch.run(b * m * m);
    for (let j = m4; j < m; j++) {
      const cj = at(r0, r0 + j);
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += v[i * b + c] * h[cj + 4 * i];
        h[xAt(b, c, j) + L.x] = s;
      }
    }
    if (inGroup > 0) correctX(batch, h, b, m, r0 - g0, inGroup * b, L);
    // Y = X^T T, then W = Y - V Z / 2 with Z = T^T (V^T Y): [m, b] row-major at L.y, on the tile (rows
    // past m come out zero).
    h.set(t, L.t);
    h.fill(0, L.y, L.y + mp4 * b);
    batch.add(G64, L.x * 8, L.t * 8, 32, b * 8, L.y * 8, b * 8, 32, mp4 / 4, b / 4, b, NO_DIAG);
    batch.run();
    h.fill(0, L.vty, L.vty + b * b);
    batch.add(G64, L.vt * 8, L.y * 8, 32, b * 8, L.vty * 8, b * 8, 32, b / 4, b / 4, m, NO_DIAG);
    batch.run();
    for (let rr = 0; rr < b; rr++) {
      for (let c = 0; c < b; c++) {
        let s = 0;
        for (let c2 = 0; c2 <= rr; c2++) s += t[c2 * b + rr] * h[L.vty + c2 * b + c];
        h[L.z + rr * b + c] = -0.5 * s;
      }
    }
    batch.add(G64, L.vp * 8, L.z * 8, 32, b * 8, L.y * 8, b * 8, 32, mp4 / 4, b / 4, b, NO_DIAG);
    batch.run();
    // The panel joins the group: V and W into its slot of the three areas.
    const slot = 2 * b * inGroup;
    for (let i = 0; i < m; i++) {
      const row = r0 + i - g0;
      const rr = L.r + row * w2 + slot;
      const blk = (row - (row & 3)) * w2 + (row & 3) + slot * 4;
      for (let c = 0; c < b; c++) {
        const vv = v[i * b + c];
        const ww = h[L.y + i * b + c];
        h[rr + c] = vv;
        h[rr + b + c] = ww;
        h[L.p + blk + c * 4] = vv;
        h[L.p + blk + (b + c) * 4] = ww;
        h[L.q + blk + c * 4] = -ww;
        h[L.q + blk + (b + c) * 4] = -vv;
      }
    }
    inGroup++;
    if (inGroup < G && k + 2 * b < n - 1) continue;
    // A22 += [V_0 W_0 ..] [-W_0 -V_0 ..]^T over rows and columns r0.. on the tile, A22's 4 x 4 blocks in
    // place: the upper triangle, then mirrored (once per group, which costs less than the other half of
    // the products). Slots not filled are zero.
    const off = (r0 - g0) * w2;
    const uo = {
      pa: (L.p + off) * 8,
      pb: (L.q + off) * 8,
      bPanel: w2 * 32,
      bStep: 32,
      pc: at(r0, r0) * 8,
      cRow: 32,
      cPanel: n * 32,
    };
    queueTiles(batch, uo, m4, m4, w2, true);
    batch.run(w2 * m * m);
    mirrorBlocks(h, n, r0, m4);
    // Fringe rows and columns (m mod 4) in plain loops.
    const wg = inGroup * b;
    for (let i = 0; i < m; i++) {
      for (let j = i < m4 ? m4 : 0; j < m; j++) {
        h[at(r0 + i, r0 + j)] -= rank2(h, b, wg, L.r + (r0 + i - g0) * w2, L.r + (r0 + j - g0) * w2);
      }
    }
    inGroup = 0;
  }
}

/**
 * Copies the 4 x 4 blocks of A[r0:r0+m4, r0:r0+m4] above the diagonal, transposed, onto those below it.
 * In the column-panel layout a block is 16 contiguous values, so this costs far less than the products
 * it saves.
 */
function mirrorBlocks(h: Float64Array, n: number, r0: number, m4: number): void {
  // In tiles of 8 x 8 blocks, so that the blocks read (along a column panel) and those written (across
  // panels) stay in cache: a plain double loop jumps a whole column panel on every write.
  for (let q0 = 0; q0 < m4; q0 += 32) {
    const q1 = Math.min(q0 + 32, m4);
    for (let p0 = 0; p0 <= q0; p0 += 32) {
      for (let q = Math.max(q0, 4); q < q1; q += 4) {
        const col = ((r0 + q) >> 2) * n * 4; // column panel of columns r0 + q ..
        const p1 = Math.min(p0 + 32, q);
        for (let p = p0; p < p1; p += 4) {
          const src = col + (r0 + p) * 4; // block (rows r0 + p.., columns r0 + q..)
          const dst = ((r0 + p) >> 2) * n * 4 + (r0 + q) * 4; // block (rows r0 + q.., columns r0 + p..)
          for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) h[dst + c * 4 + r] = h[src + r * 4 + c];
        }
      }
    }
  }
}

/** Offset of X[c, j] in X's panels of 4 columns ([panel][c][4]). */
function xAt(b: number, c: number, j: number): number {
  return (j - (j & 3)) * b + c * 4 + (j & 3);
}

/**
 * sum over the group's first `wg` / b panels of V[i] . W[j] + W[i] . V[j], rows i and j of the row-major
 * [V_0 W_0 V_1 W_1 ..] at offsets ri and rj.
 */
function rank2(h: Float64Array, b: number, wg: number, ri: number, rj: number): number {
  let s = 0;
  for (let o = 0; o < 2 * wg; o += 2 * b) {
    for (let c = o; c < o + b; c++) s += h[ri + c] * h[rj + b + c] + h[ri + b + c] * h[rj + c];
  }
  return s;
}

/**
 * Brings columns k..k+b of A, rows k.. (the next panel and its diagonal block), up to date with the
 * group's pending update: A[k:, k:k+b] += [V_0 W_0 ..][k:] [-W_0 -V_0 ..][k:k+b]^T on the tile (b = 8:
 * two column panels), the last m mod 4 rows in a plain loop.
 */
function catchUpPanel(
  batch: Batch,
  h: Float64Array,
  n: number,
  k: number,
  g0: number,
  wg: number,
  L: Layout,
  at: (i: number, j: number) => number,
): void {
  const { w2 } = L;
  const m = n - k;
  const m4 = m - (m % 4);
  const off = (k - g0) * w2;
  batch.add(
    G64,
    (L.p + off) * 8,
    (L.q + off) * 8,
    w2 * 32,
    32,
    at(k, k) * 8,
    32,
    n * 32,
    m4 / 4,
    B / 4,
    w2,
    NO_DIAG,
  );
  batch.run();
  for (let c = 0; c < B; c++) {
    const rc = L.r + (k + c - g0) * w2;
    for (let i = m4; i < m; i++) h[at(k + i, k + c)] -= rank2(h, B, wg, L.r + (k + i - g0) * w2, rc);
  }
}

/**
 * X = V^T A22 was taken from the stale A22: X += [P_0 Q_0 ..] [-W_0 -V_0 ..]^T over columns r0.., with
 * [P_0 Q_0 ..] = V^T [V_0 W_0 ..] ([b, 2 wg]) from the tile too. `row` = r0 - g0.
 */
function correctX(
  batch: Batch,
  h: Float64Array,
  b: number,
  m: number,
  row: number,
  wg: number,
  L: Layout,
): void {
  const { w2 } = L;
  const k2 = 2 * wg;
  const m4 = m - (m % 4);
  h.fill(0, L.pqr, L.pqr + b * k2);
  batch.add(
    G64,
    L.vt * 8,
    (L.r + row * w2) * 8,
    32,
    w2 * 8,
    L.pqr * 8,
    k2 * 8,
    32,
    b / 4,
    k2 / 4,
    m,
    NO_DIAG,
  );
  batch.run();
  for (let c4 = 0; c4 < b; c4 += 4) {
    for (let s = 0; s < k2; s++) {
      for (let c = 0; c < 4; c++) h[L.pq + c4 * k2 + s * 4 + c] = h[L.pqr + (c4 + c) * k2 + s];
    }
  }
  const o = {
    pa: L.pq * 8,
    pb: (L.q + row * w2) * 8,
    bPanel: w2 * 32,
    bStep: 32,
    pc: L.x * 8,
    cRow: 32,
    cPanel: b * 32,
  };
  queueTiles(batch, o, b, m4, k2, false, 0, b, X_COLS);
  batch.run();
  // Fringe columns: [-W | -V] of row j read off the row-major area.
  for (let j = m4; j < m; j++) {
    const rj = L.r + (row + j) * w2;
    for (let c = 0; c < b; c++) {
      let s = 0;
      for (let o = 0; o < k2; o += 2 * b) {
        for (let u = o; u < o + b; u++) {
          s += h[L.pqr + c * k2 + u] * h[rj + b + u] + h[L.pqr + c * k2 + b + u] * h[rj + u];
        }
      }
      h[L.x + xAt(b, c, j)] -= s;
    }
  }
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
        const hyp = hypot(a, x);
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
  const rp = p * w;
  const rq = rp + w;
  // Row parts: columns x in [p - b, p), at offset o = p - x in row p and o + 1 in row q; the loop is
  // split around the skipped column.
  const oSkip = p - skip;
  const oEnd = Math.min(b, p);
  for (let o = 1; o <= oEnd; o++) {
    if (o === oSkip) continue;
    const u = band[rp + o];
    const v = band[rq + o + 1];
    band[rp + o] = c * u + s * v;
    band[rq + o + 1] = c * v - s * u;
  }
  // Column parts: rows y in (q, q + b], entries A[y, p] and A[y, q] side by side.
  const yEnd = Math.min(n - 1, p + 1 + b);
  for (let y = p + 2, i = (p + 2) * w + 2; y <= yEnd; y++, i += w + 1) {
    const u = band[i];
    const v = band[i - 1];
    band[i] = c * u + s * v;
    band[i - 1] = c * v - s * u;
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
