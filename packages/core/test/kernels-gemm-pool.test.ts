/**
 * Products on several threads (gemm-parallel.ts, product-pool.node.ts): how a product is cut into
 * shares (every entry of C in exactly one piece), and worker threads on a shared memory of the test's
 * own computing the same bits as one thread, for batches, row cuts and column cuts, with shares that
 * put all the work on a worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PIECE_INTS,
  type ProductBases,
  type ProductShape,
  parallelScratchBytes,
  planPieces,
} from '../src/backend/kernels/gemm-parallel.js';
import { gemmKernels } from '../src/backend/kernels/gemm-simd.js';
import { createProductPool, type NodeProductPool } from '../src/backend/product-pool.node.js';
import { enableRelaxedSimd } from '../src/backend/relaxed-simd.node.js';
import { createRng } from '../src/index.node.js';

enableRelaxedSimd();
const memory = new WebAssembly.Memory({ initial: 512, maximum: 1024, shared: true }); // 32 MiB
const heap = () => new Float32Array(memory.buffer);
const [A, B, C1, C2, S, BIAS] = [0, 6 << 20, 12 << 20, 18 << 20, 24 << 20, 30 << 20];

/** Which piece (by index) covers each entry of the batch x m x n outputs at `c0`. */
function coverage(pieces: Int32Array, c0: number, batch: number, m: number, n: number): Int32Array {
  const hits = new Int32Array(batch * m * n);
  for (let i = 0; i < pieces.length / PIECE_INTS; i++) {
    const o = i * PIECE_INTS;
    const [c, ldc, rows, cols] = [pieces[o + 6], pieces[o + 7], pieces[o + 8], pieces[o + 9]];
    for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) hits[(c - c0) / 4 + (r * ldc) / 4 + q]++;
  }
  return hits;
}

describe('cutting a product into shares', () => {
  const shape = (m: number, n: number, k: number): ProductShape => ({
    ars: k * 4,
    aks: 4,
    brs: n * 4,
    bcs: 4,
    ldc: n * 4,
    m,
    n,
    k,
    bias: 0,
  });
  for (const [batch, m, n, threads] of [
    [1, 1024, 192, 2],
    [1, 37, 1000, 3],
    [1, 5, 9, 4],
    [7, 64, 64, 3],
    [2, 130, 17, 3],
  ]) {
    it(`${batch} x ${m} x ${n} on ${threads} threads: every entry of C once, one scratch per thread`, () => {
      const products: ProductBases[] = Array.from({ length: batch }, (_, o) => ({
        a: 0,
        b: 0,
        c: o * m * n * 4,
      }));
      const { pieces, ends } = planPieces(products, shape(m, n, 32), threads, 1 << 20);
      expect(ends).toHaveLength(threads);
      expect(ends.at(-1)).toBe(pieces.length / PIECE_INTS);
      expect(Array.from(coverage(pieces, 0, batch, m, n)).every((h) => h === 1)).toBe(true);
      const stride = parallelScratchBytes(n, 1);
      ends.forEach((end, t) => {
        for (let i = t ? ends[t - 1] : 0; i < end; i++)
          expect(pieces[i * PIECE_INTS + 11]).toBe((1 << 20) + t * stride);
      });
    });
  }
});

describe('worker threads on a shared memory', () => {
  const pools: NodeProductPool[] = [];
  beforeAll(async () => {
    for (const threads of [2, 3]) {
      const p = createProductPool(memory, threads);
      if (!p) throw new Error('no product pool on a shared memory');
      pools.push(p);
    }
    expect(await Promise.all(pools.map((p) => p.whenReady()))).toEqual([true, true]);
  });
  afterAll(() => {
    for (const p of pools) p.close();
  });

  it('are not made for an unshared memory or one thread', () => {
    expect(createProductPool(new WebAssembly.Memory({ initial: 1 }), 2)).toBeNull();
    expect(createProductPool(memory, 1)).toBeNull();
  });

  it('a share that fails on its worker is run by the caller, and the pool is switched off', async () => {
    const g = gemmKernels(memory);
    const pool = createProductPool(memory, 2);
    if (!g || !pool) throw new Error('no product pool');
    expect(await pool.whenReady()).toBe(true);
    // One piece whose A lies past the end of the memory: the worker traps, says so, and stops; the
    // caller runs the piece itself and traps the same way.
    const bad = Int32Array.of(0x7ff00000, 4, 4, B, 4, 4, C2, 4, 1, 1, 1, S, 0);
    expect(() => pool.run(g, bad, [0, 1])).toThrow(WebAssembly.RuntimeError);
    expect(pool.threads).toBe(1);
    // Products go on, on the calling thread alone.
    heap().set([2, 3], A / 4);
    heap().set([5, 7], B / 4);
    const { pieces, ends } = planPieces(
      [{ a: A, b: B, c: C2 }],
      { ars: 8, aks: 4, brs: 4, bcs: 4, ldc: 4, m: 1, n: 1, k: 2, bias: 0 },
      1,
      S,
    );
    pool.run(g, pieces, ends);
    expect(heap()[C2 / 4]).toBe(2 * 5 + 3 * 7);
    pool.close();
  });

  const cases: [string, number, number, number, number, boolean, boolean, boolean][] = [
    ['one product cut by rows', 1, 300, 72, 270, false, false, false],
    ['one product cut by columns (few rows), transposed operands, a bias', 1, 9, 260, 40, true, true, true],
    ['a batch of products with a bias', 6, 33, 20, 17, false, true, true],
  ];
  for (const [what, batch, m, n, k, tA, tB, withBias] of cases) {
    it(`${what}: the same bits as one thread, whoever runs which share`, () => {
      const g = gemmKernels(memory);
      if (!g) throw new Error('no WebAssembly SIMD');
      const rng = createRng(batch * 1000 + m);
      const h = heap();
      h.set(Float32Array.from(rng.uniformArray(batch * m * k, -1, 1)), A / 4);
      h.set(Float32Array.from(rng.uniformArray(batch * k * n, -1, 1)), B / 4);
      h.set(Float32Array.from(rng.uniformArray(n, -1, 1)), BIAS / 4);
      const s: ProductShape = {
        ars: tA ? 4 : k * 4,
        aks: tA ? m * 4 : 4,
        brs: tB ? 4 : n * 4,
        bcs: tB ? k * 4 : 4,
        ldc: n * 4,
        m,
        n,
        k,
        bias: withBias ? BIAS : 0,
      };
      const products = (c: number): ProductBases[] =>
        Array.from({ length: batch }, (_, o) => ({
          a: A + o * m * k * 4,
          b: B + o * k * n * 4,
          c: c + o * m * n * 4,
        }));
      for (const p of products(C1)) {
        g.blocked(p.a, s.ars, s.aks, p.b, s.brs, s.bcs, p.c, s.ldc, m, n, k, S, s.bias);
      }
      const ref = heap().slice(C1 / 4, C1 / 4 + batch * m * n);
      for (const pool of pools) {
        expect(pool.ready).toBe(true);
        const { pieces, ends } = planPieces(products(C2), s, pool.threads, S);
        const total = pieces.length / PIECE_INTS;
        // The planned shares, then everything on the last worker.
        for (const e of [ends, [0, ...Array(pool.threads - 2).fill(0), total]]) {
          heap().fill(Number.NaN, C2 / 4, C2 / 4 + batch * m * n);
          pool.run(g, pieces, e);
          expect(heap().slice(C2 / 4, C2 / 4 + batch * m * n)).toEqual(ref);
        }
      }
    });
  }
});
