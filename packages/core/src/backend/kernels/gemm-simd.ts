/**
 * Our float32 matrix product on tfjs-backend-wasm's heap: C = A B with A and B read through strides
 * (so a transposed operand costs nothing extra) and B packed once per block of the inner dimension.
 *
 * The micro tile is 4 rows x 8 columns (eight f32x4 accumulators): per step of the inner dimension it
 * loads 8 values of packed B, broadcasts 4 values of A and does 8 multiply-adds. Where the engine has
 * WebAssembly's relaxed SIMD (`f32x4.relaxed_madd`: a fused multiply-add on CPUs that have one), each
 * multiply-add is one instruction; elsewhere a multiply and an add, as XNNPACK's WebAssembly kernels do.
 * On a 2-core AMD EPYC (Zen 3) under Node 20 this tile ran at 33-36 GFLOP/s with the fused form and
 * 20-25 with the plain one, where tfjs's XNNPACK product reached 13-16 on the same shapes.
 *
 * Blocking: the inner dimension in blocks of {@link KC} (a packed B panel of KC x 8 stays in L1 while
 * every row of A passes it), rows in blocks of {@link MC} (the block of A stays in L2).
 */
import { WASM_OP as op, WASM_SIMD_OP as simd, WASM_TYPE as T, WasmFunction } from '../../wasm/assembler.js';
import { compileKernels, instantiateOn, isSharedMemory } from './simd.js';

/** Inner-dimension block: 256 x 8 floats of packed B = 8 KiB. */
export const KC = 256;
/** Rows per block: 128 x 256 floats of A = 128 KiB. */
export const MC = 128;
/** Rows and columns of the micro tile. */
const MR = 4;
const NR = 8;

/** The two exported functions, bound to one memory (byte addresses into it). */
export interface GemmKernels {
  /**
   * C[i, j] (+)= sum_{t < kc} A[i, t] Bp[t, j] for i < rows, j < n: A[i, t] at a + i rs + t ks, Bp
   * packed by `pack` (panels of kc x 8), C[i, j] at c + i ldc + 4 j. `accumulate` 0 overwrites C.
   * `spill` is 128 bytes of scratch for partial tiles. A nonzero `bias` (the address of n floats) is
   * added to every row after the sum.
   */
  gemm(
    a: number,
    rs: number,
    ks: number,
    rows: number,
    bp: number,
    c: number,
    ldc: number,
    n: number,
    kc: number,
    accumulate: number,
    spill: number,
    bias: number,
  ): void;
  /**
   * Pack B[t, j] at b + t ks + j js for t < kc, j < n into panels of 8 columns: dst[(p kc + t) 8 + q]
   * = B[t, 8 p + q], zero for 8 p + q >= n.
   */
  pack(b: number, ks: number, js: number, kc: number, n: number, dst: number): void;
  /**
   * C (m x n at `c`, row stride `ldc`) = A B (+ bias), blocked: A[i, t] at a + i ars + t aks, B[t, j]
   * at b + t brs + j bcs; `scratch` holds {@link gemmScratchBytes}(n) bytes (packed B, then the spill).
   * A nonzero `bias` is the address of n floats added to every row of the finished sum.
   */
  blocked(
    a: number,
    ars: number,
    aks: number,
    b: number,
    brs: number,
    bcs: number,
    c: number,
    ldc: number,
    m: number,
    n: number,
    k: number,
    scratch: number,
    bias: number,
  ): void;
}

/** local = min(local, c) (i32). */
function clampTo(f: WasmFunction, local: number, c: number): void {
  f.get(local).i32(c).get(local).i32(c).op(op.i32LtS).op(op.select).set(local);
}

function gemmFunction(fused: boolean): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('gemm', [I, I, I, I, I, I, I, I, I, I, I, I]);
  const [a, rs, ks, rows, bp, c, ldc, n, kc, accumulate, spill, bias] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
  ];
  const j0 = f.local(I); // first column of the panel
  const panel = f.local(I); // its packed B
  const i0 = f.local(I);
  const b = f.local(I);
  const t = f.local(I);
  const cp = f.local(I);
  const rEnd = f.local(I);
  const cEnd = f.local(I);
  const r = f.local(I);
  const q = f.local(I);
  const ar = Array.from({ length: MR }, () => f.local(I));
  const acc = Array.from({ length: 2 * MR }, () => f.local(T.v128));
  const b0 = f.local(T.v128);
  const b1 = f.local(T.v128);
  const av = f.local(T.v128);
  const last = f.local(I);
  const dstAddr = f.local(I);
  const value = f.local(T.f32);
  const sum = f.local(T.v128);
  const biasAt = f.local(I); // bias + 4 j0
  f.get(rows).i32(1).op(op.i32Sub).set(last);
  f.get(bp).set(panel);
  f.loop(
    () => f.get(j0).get(n).op(op.i32GeS),
    () => {
      f.get(bias).get(j0).i32(4).op(op.i32Mul).op(op.i32Add).set(biasAt);
      f.i32(0).set(i0);
      f.loop(
        () => f.get(i0).get(rows).op(op.i32GeS),
        () => {
          // Row addresses; rows past the end repeat the last row (computed, never stored).
          for (let k = 0; k < MR; k++) {
            f.get(a);
            f.get(i0).i32(k).op(op.i32Add).get(last).get(i0).i32(k).op(op.i32Add).get(last).op(op.i32LtS);
            f.op(op.select).get(rs).op(op.i32Mul).op(op.i32Add).set(ar[k]);
          }
          for (const x of acc) f.zero().set(x);
          f.get(panel).set(b);
          f.get(kc).set(t);
          f.loop(
            () => f.get(t).op(op.i32Eqz),
            () => {
              f.get(b).v(simd.load, 4, 0).set(b0);
              f.get(b).v(simd.load, 4, 16).set(b1);
              for (let k = 0; k < MR; k++) {
                f.get(ar[k]).v(simd.load32Splat, 2, 0).set(av);
                for (let h = 0; h < 2; h++) {
                  const x = acc[2 * k + h];
                  if (fused)
                    f.get(av)
                      .get(h ? b1 : b0)
                      .get(x)
                      .v(simd.f32RelaxedMadd)
                      .set(x);
                  else
                    f.get(x)
                      .get(av)
                      .get(h ? b1 : b0)
                      .v(simd.f32Mul)
                      .v(simd.f32Add)
                      .set(x);
                }
                f.get(ar[k]).get(ks).op(op.i32Add).set(ar[k]);
              }
              f.inc(b, 4 * NR);
              f.get(t).i32(1).op(op.i32Sub).set(t);
            },
          );
          // cp = c + i0 ldc + 4 j0
          f.get(c)
            .get(i0)
            .get(ldc)
            .op(op.i32Mul)
            .op(op.i32Add)
            .get(j0)
            .i32(4)
            .op(op.i32Mul)
            .op(op.i32Add)
            .set(cp);
          // Whole tile: vector stores. Otherwise spill and store the valid entries one by one.
          f.get(i0).i32(MR).op(op.i32Add).get(rows).op(op.i32LeS);
          f.get(j0).i32(NR).op(op.i32Add).get(n).op(op.i32LeS);
          f.op(op.i32And).op(op.if, op.void);
          for (let k = 0; k < MR; k++) {
            for (let h = 0; h < 2; h++) {
              f.get(accumulate).op(op.if, T.v128);
              f.get(acc[2 * k + h])
                .get(cp)
                .v(simd.load, 0, h * 16)
                .v(simd.f32Add);
              f.op(op.else)
                .get(acc[2 * k + h])
                .op(op.end)
                .set(sum);
              f.get(bias).op(op.if, op.void);
              f.get(sum)
                .get(biasAt)
                .v(simd.load, 0, h * 16)
                .v(simd.f32Add)
                .set(sum);
              f.op(op.end);
              f.get(cp)
                .get(sum)
                .v(simd.store, 0, h * 16);
            }
            if (k < MR - 1) f.get(cp).get(ldc).op(op.i32Add).set(cp);
          }
          f.op(op.else);
          for (let k = 0; k < 2 * MR; k++)
            f.get(spill)
              .get(acc[k])
              .v(simd.store, 0, 16 * k);
          // rEnd = min(MR, rows - i0), cEnd = min(NR, n - j0)
          f.get(rows).get(i0).op(op.i32Sub).set(rEnd);
          clampTo(f, rEnd, MR);
          f.get(n).get(j0).op(op.i32Sub).set(cEnd);
          clampTo(f, cEnd, NR);
          f.i32(0).set(r);
          f.loop(
            () => f.get(r).get(rEnd).op(op.i32GeS),
            () => {
              f.i32(0).set(q);
              f.loop(
                () => f.get(q).get(cEnd).op(op.i32GeS),
                () => {
                  // C[i0 + r, j0 + q] (+)= spill[r NR + q]
                  f.get(cp)
                    .get(r)
                    .get(ldc)
                    .op(op.i32Mul)
                    .op(op.i32Add)
                    .get(q)
                    .i32(4)
                    .op(op.i32Mul)
                    .op(op.i32Add);
                  f.tee(dstAddr);
                  f.get(spill)
                    .get(r)
                    .i32(NR)
                    .op(op.i32Mul)
                    .get(q)
                    .op(op.i32Add)
                    .i32(4)
                    .op(op.i32Mul)
                    .op(op.i32Add);
                  f.op(op.f32Load, 2, 0).set(value);
                  f.get(accumulate).op(op.if, op.void);
                  f.get(value).get(dstAddr).op(op.f32Load, 2, 0).op(op.f32Add).set(value);
                  f.op(op.end);
                  f.get(bias).op(op.if, op.void);
                  f.get(value).get(biasAt).get(q).i32(4).op(op.i32Mul).op(op.i32Add);
                  f.op(op.f32Load, 2, 0).op(op.f32Add).set(value);
                  f.op(op.end);
                  f.get(value).op(op.f32Store, 2, 0);
                  f.inc(q, 1);
                },
              );
              f.inc(r, 1);
            },
          );
          f.op(op.end);
          f.inc(i0, MR);
        },
      );
      f.inc(j0, NR);
      f.get(panel)
        .get(kc)
        .i32(4 * NR)
        .op(op.i32Mul)
        .op(op.i32Add)
        .set(panel);
    },
  );
  return f;
}

function packFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('pack', [I, I, I, I, I, I]);
  const [b, ks, js, kc, n, dst] = [0, 1, 2, 3, 4, 5];
  const j0 = f.local(I);
  const q = f.local(I);
  const t = f.local(I);
  const src = f.local(I);
  const out = f.local(I);
  const base = f.local(I);
  f.loop(
    () => f.get(j0).get(n).op(op.i32GeS),
    () => {
      // Contiguous columns, whole panel: two vectors per row of B.
      f.get(js).i32(4).op(op.i32Sub).op(op.i32Eqz);
      f.get(j0).i32(NR).op(op.i32Add).get(n).op(op.i32LeS);
      f.op(op.i32And).op(op.if, op.void);
      f.get(b).get(j0).i32(4).op(op.i32Mul).op(op.i32Add).set(src);
      f.i32(0).set(t);
      f.loop(
        () => f.get(t).get(kc).op(op.i32GeS),
        () => {
          f.get(dst).get(src).v(simd.load, 0, 0).v(simd.store, 0, 0);
          f.get(dst).get(src).v(simd.load, 0, 16).v(simd.store, 0, 16);
          f.get(src).get(ks).op(op.i32Add).set(src);
          f.inc(dst, 4 * NR);
          f.inc(t, 1);
        },
      );
      f.op(op.else);
      // Any layout: column by column, reading along the inner dimension; zeros past n.
      f.get(dst).set(base);
      f.i32(0).set(q);
      f.loop(
        () => f.get(q).i32(NR).op(op.i32GeS),
        () => {
          f.get(base).get(q).i32(4).op(op.i32Mul).op(op.i32Add).set(out);
          f.get(b).get(j0).get(q).op(op.i32Add).get(js).op(op.i32Mul).op(op.i32Add).set(src);
          f.i32(0).set(t);
          f.loop(
            () => f.get(t).get(kc).op(op.i32GeS),
            () => {
              f.get(out);
              f.get(j0).get(q).op(op.i32Add).get(n).op(op.i32LtS);
              f.op(op.if, T.f32).get(src).op(op.f32Load, 2, 0).op(op.else).f32(0).op(op.end);
              f.op(op.f32Store, 2, 0);
              f.get(src).get(ks).op(op.i32Add).set(src);
              f.inc(out, 4 * NR);
              f.inc(t, 1);
            },
          );
          f.inc(q, 1);
        },
      );
      f.get(base)
        .get(kc)
        .i32(4 * NR)
        .op(op.i32Mul)
        .op(op.i32Add)
        .set(dst);
      f.op(op.end);
      f.inc(j0, NR);
    },
  );
  return f;
}

/** Function numbers in the module, in the order {@link compile} lists them. */
const FN = { gemm: 0, pack: 1 } as const;

/**
 * The whole product: for each block of KC along the inner dimension, pack that block of B, then run the
 * tile kernel over the rows in blocks of MC (the first block overwrites C, later ones add, the last one
 * adds the bias too).
 */
function blockedFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('blocked', [I, I, I, I, I, I, I, I, I, I, I, I, I]);
  const [a, ars, aks, b, brs, bcs, c, ldc, m, n, k, scratch, bias] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
  ];
  const lastBias = f.local(I); // bias on the last block of the inner dimension, else 0
  const t0 = f.local(I);
  const kc = f.local(I);
  const i0 = f.local(I);
  const rows = f.local(I);
  const spill = f.local(I);
  // spill = scratch + ceil(n / NR) NR KC 4
  f.get(scratch)
    .get(n)
    .i32(NR - 1)
    .op(op.i32Add)
    .i32(-NR)
    .op(op.i32And)
    .i32(KC * 4)
    .op(op.i32Mul);
  f.op(op.i32Add).set(spill);
  f.loop(
    () => f.get(t0).get(k).op(op.i32GeS),
    () => {
      f.get(k).get(t0).op(op.i32Sub).set(kc);
      // The bias goes in after the whole sum, as a separate add would put it.
      f.get(bias).i32(0).get(kc).i32(KC).op(op.i32LeS).op(op.select).set(lastBias);
      clampTo(f, kc, KC);
      f.get(b).get(t0).get(brs).op(op.i32Mul).op(op.i32Add).get(brs).get(bcs).get(kc).get(n).get(scratch);
      f.call(FN.pack);
      f.i32(0).set(i0);
      f.loop(
        () => f.get(i0).get(m).op(op.i32GeS),
        () => {
          f.get(m).get(i0).op(op.i32Sub).set(rows);
          clampTo(f, rows, MC);
          f.get(a).get(i0).get(ars).op(op.i32Mul).op(op.i32Add).get(t0).get(aks).op(op.i32Mul).op(op.i32Add);
          f.get(ars).get(aks).get(rows).get(scratch);
          f.get(c).get(i0).get(ldc).op(op.i32Mul).op(op.i32Add).get(ldc).get(n).get(kc);
          f.i32(0).get(t0).op(op.i32LtS).get(spill).get(lastBias);
          f.call(FN.gemm);
          f.inc(i0, MC);
        },
      );
      f.inc(t0, KC);
    },
  );
  return f;
}

/** A compiled module and whether it uses the fused multiply-add. */
interface Compiled {
  module: WebAssembly.Module;
  fused: boolean;
}

const modules = new Map<string, Compiled | null>();
const bound = new WeakMap<WebAssembly.Memory, Map<boolean, BoundGemm | null>>();

/** The kernels bound to one memory, and which form they run. */
export type BoundGemm = GemmKernels & { fused: boolean };

function compile(shared: boolean, allowFused: boolean): Compiled | null {
  const key = `${shared}/${allowFused}`;
  if (!modules.has(key)) {
    let found: Compiled | null = null;
    for (const fused of allowFused ? [true, false] : [false]) {
      const module = compileKernels(() => [gemmFunction(fused), packFunction(), blockedFunction()], shared);
      if (module) {
        found = { module, fused };
        break;
      }
    }
    modules.set(key, found);
  }
  return modules.get(key) ?? null;
}

/** The compiled module of the kernels (for worker threads that share a heap), or null. */
export function gemmModule(shared: boolean, fused: boolean): WebAssembly.Module | null {
  const c = compile(shared, fused);
  return c && c.fused === fused ? c.module : null;
}

/**
 * The product kernels on `memory`, or null where WebAssembly SIMD is missing: the fused form where the
 * engine validates relaxed SIMD (unless `allowFused` is false), else the plain one.
 */
export function gemmKernels(memory: WebAssembly.Memory, allowFused = true): BoundGemm | null {
  let forms = bound.get(memory);
  if (!forms) {
    forms = new Map();
    bound.set(memory, forms);
  }
  if (!forms.has(allowFused)) {
    const c = compile(isSharedMemory(memory), allowFused);
    const ex = instantiateOn<GemmKernels>(c?.module ?? null, memory);
    forms.set(
      allowFused,
      ex && c ? { gemm: ex.gemm, pack: ex.pack, blocked: ex.blocked, fused: c.fused } : null,
    );
  }
  return forms.get(allowFused) ?? null;
}

/** Byte size of the scratch `blocked` needs for a product with `n` columns (packed B, then the spill). */
export function gemmScratchBytes(n: number): number {
  return Math.ceil(n / NR) * NR * KC * 4 + 128;
}
