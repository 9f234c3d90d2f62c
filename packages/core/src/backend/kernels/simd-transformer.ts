/**
 * WebAssembly SIMD kernels for pieces of transformer blocks (LightningDiT's gate and rotary embedding,
 * every attention's heads), each one pass over the heap where the tensor-op form runs a chain of
 * kernels:
 *
 * - `swiglu` / `swigluGrad`: the SwiGLU gate silu(a) * b, with [a, b] the two halves of each row of the
 *   fused projection's output (split, sigmoid and two multiplies in tfjs; with the gradient, also a
 *   concat). The sigmoid comes from a Cody-Waite exp within 2 ulp.
 * - `rope`: the rotary embedding x * cos + pairSwap(x) * sinSigned, its [N, d] tables repeating
 *   along x (a reverse, two multiplies and an add in tfjs). With `sign` -1 it is
 *   the transposed rotation, the gradient. Each product and sum is the tensor-op form's float32
 *   operation, so both give the same bits.
 * - `copyRows`: rows of bytes gathered and scattered through three strides on each side, which moves
 *   attention's heads in and out of the fused projection's layout in one pass (a split and a
 *   transpose per q, k and v in tfjs).
 */
import { WASM_OP as op, WASM_SIMD_OP as simd, WASM_TYPE as T, WasmFunction } from '../../wasm/assembler.js';
import { elementwise, exprs, sigmoid, splat } from './simd-expr.js';

/** Row loop: `body` runs once per row with the locals of `pointers` advanced by their step after it. */
function rows(f: WasmFunction, count: number, pointers: [number, number][], body: () => void): void {
  const row = f.local(T.i32);
  f.loop(
    () => f.get(row).get(count).op(op.i32GeU),
    () => {
      body();
      for (const [p, step] of pointers) f.get(p).get(step).op(op.i32Add).set(p);
      f.inc(row, 1);
    },
  );
}

/** Byte sizes of h and 2 h floats, as two new locals. */
function rowBytes(f: WasmFunction, h: number): [number, number] {
  const one = f.local(T.i32);
  const two = f.local(T.i32);
  f.get(h).i32(2).op(op.i32Shl).tee(one).i32(1).op(op.i32Shl).set(two);
  return [one, two];
}

/** swiglu(x, y, rows, h): y[r, j] = silu(x[r, j]) * x[r, h + j] for x [rows, 2 h], y [rows, h]. */
function swigluFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('swiglu', [I, I, I, I]);
  const [x, y, count, h] = [0, 1, 2, 3];
  const e = exprs(f);
  const [one, two] = rowBytes(f, h);
  const b = f.local(I);
  f.get(x).get(one).op(op.i32Add).set(b);
  rows(
    f,
    count,
    [
      [x, two],
      [b, two],
      [y, one],
    ],
    () =>
      elementwise(f, h, (lanes, i) => {
        const A = e.let(() => lanes.load(f, x, i));
        lanes.store(
          f,
          y,
          i,
          e.mul(e.mul(A, sigmoid(f, e, A)), () => lanes.load(f, b, i)),
        );
      }),
  );
  return f;
}

/**
 * swigluGrad(x, dy, dx, rows, h): for a = x[r, j], b = x[r, h + j], s = sigmoid(a):
 * dx[r, j] = dy b s (1 + a (1 - s)) and dx[r, h + j] = dy a s, in the order of the tensor-op form.
 */
function swigluGradFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('swigluGrad', [I, I, I, I, I]);
  const [x, dy, dx, count, h] = [0, 1, 2, 3, 4];
  const e = exprs(f);
  const [one, two] = rowBytes(f, h);
  const b = f.local(I);
  const db = f.local(I);
  f.get(x).get(one).op(op.i32Add).set(b);
  f.get(dx).get(one).op(op.i32Add).set(db);
  rows(
    f,
    count,
    [
      [x, two],
      [b, two],
      [dx, two],
      [db, two],
      [dy, one],
    ],
    () =>
      elementwise(f, h, (lanes, i) => {
        const A = e.let(() => lanes.load(f, x, i));
        const B = e.let(() => lanes.load(f, b, i));
        const DY = e.let(() => lanes.load(f, dy, i));
        const S = e.let(sigmoid(f, e, A));
        lanes.store(f, dx, i, e.mul(e.mul(DY, B), e.mul(S, e.add(e.c(1), e.mul(A, e.sub(e.c(1), S))))));
        lanes.store(f, db, i, e.mul(DY, e.mul(A, S)));
      }),
  );
  return f;
}

/** Lanes 0 1 2 3 -> 1 0 3 2 (bytes of each float32 pair swapped). */
const PAIR_SWAP = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];

/**
 * rope(x, cos, sin, y, total, table, sign): y = x * cos + pairSwap(x) * (sin * sign) over `total`
 * floats (a multiple of 4) of x, the tables of `table` floats (a multiple of 4) repeating along it.
 */
function ropeFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('rope', [I, I, I, I, I, I, T.f32]);
  const [x, cos, sin, y, total, table, signParam] = [0, 1, 2, 3, 4, 5, 6];
  const e = exprs(f);
  const sign = splat(f, signParam);
  const i = f.local(I);
  const t = f.local(I);
  const end = f.local(I);
  const tEnd = f.local(I);
  f.get(total).i32(2).op(op.i32Shl).set(end);
  f.get(table).i32(2).op(op.i32Shl).set(tEnd);
  f.loop(
    () => f.get(i).get(end).op(op.i32GeU),
    () => {
      const X = e.let(() => f.get(x).get(i).op(op.i32Add).v(simd.load, 2, 0));
      const at = (base: number) => () => void f.get(base).get(t).op(op.i32Add).v(simd.load, 2, 0);
      const swapped = () => {
        X();
        X();
        f.v(simd.shuffle, ...PAIR_SWAP);
      };
      f.get(y).get(i).op(op.i32Add);
      e.add(e.mul(X, at(cos)), e.mul(swapped, e.mul(at(sin), sign)))();
      f.v(simd.store, 2, 0);
      f.inc(i, 16);
      // t = t + 16, back to 0 at the end of the table.
      f.get(t).i32(16).op(op.i32Add).tee(t).get(tEnd).op(op.i32GeU);
      f.op(op.if, op.void).i32(0).set(t).op(op.end);
    },
  );
  return f;
}

/**
 * copyRows(src, dst, n0, n1, n2, ss0, ss1, ss2, ds0, ds1, ds2, bytes): for i0 < n0, i1 < n1, i2 < n2,
 * copy `bytes` (a multiple of 4) from src + i0 ss0 + i1 ss1 + i2 ss2 to dst + i0 ds0 + i1 ds1 + i2 ds2:
 * 16 bytes at a time, then 4.
 */
function copyRowsFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('copyRows', [I, I, I, I, I, I, I, I, I, I, I, I]);
  const [src, dst, n0, n1, n2, ss0, ss1, ss2, ds0, ds1, ds2, bytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [i0, i1, i2, s1, d1, s2, d2, j, end16] = Array.from({ length: 9 }, () => f.local(I));
  f.get(bytes).i32(~15).op(op.i32And).set(end16);
  const step = (idx: number, s: number, ss: number, d: number, ds: number) => {
    f.get(s).get(ss).op(op.i32Add).set(s);
    f.get(d).get(ds).op(op.i32Add).set(d);
    f.inc(idx, 1);
  };
  f.loop(
    () => f.get(i0).get(n0).op(op.i32GeU),
    () => {
      f.get(src).set(s1).get(dst).set(d1).i32(0).set(i1);
      f.loop(
        () => f.get(i1).get(n1).op(op.i32GeU),
        () => {
          f.get(s1).set(s2).get(d1).set(d2).i32(0).set(i2);
          f.loop(
            () => f.get(i2).get(n2).op(op.i32GeU),
            () => {
              f.i32(0).set(j);
              f.loop(
                () => f.get(j).get(end16).op(op.i32GeU),
                () => {
                  f.get(d2).get(j).op(op.i32Add).get(s2).get(j).op(op.i32Add).v(simd.load, 0, 0);
                  f.v(simd.store, 0, 0).inc(j, 16);
                },
              );
              f.loop(
                () => f.get(j).get(bytes).op(op.i32GeU),
                () => {
                  f.get(d2).get(j).op(op.i32Add).get(s2).get(j).op(op.i32Add).op(op.f32Load, 2, 0);
                  f.op(op.f32Store, 2, 0).inc(j, 4);
                },
              );
              step(i2, s2, ss2, d2, ds2);
            },
          );
          step(i1, s1, ss1, d1, ds1);
        },
      );
      step(i0, src, ss0, dst, ds0);
    },
  );
  return f;
}

/** The functions of this file, in the order their exports are listed in {@link TransformerKernels}. */
export function transformerFunctions(): WasmFunction[] {
  return [swigluFunction(), swigluGradFunction(), ropeFunction(), copyRowsFunction()];
}

/** The kernels of this file, bound to one memory (byte addresses into it). */
export interface TransformerKernels {
  /** y [rows, h] = silu(a) * b for x [rows, 2 h] = [a, b]. */
  swiglu(x: number, y: number, rows: number, h: number): void;
  /** dx [rows, 2 h] = [d a, d b] of {@link TransformerKernels.swiglu} for dy [rows, h]. */
  swigluGrad(x: number, dy: number, dx: number, rows: number, h: number): void;
  /**
   * y = x * cos + pairSwap(x) * (sin * sign) for `total` floats of x (a multiple of 4) against tables of
   * `table` floats (a multiple of 4) that repeat.
   */
  rope(x: number, cos: number, sin: number, y: number, total: number, table: number, sign: number): void;
  /**
   * Copy `bytes` (a multiple of 4) from src + i0 ss0 + i1 ss1 + i2 ss2 to dst + i0 ds0 + i1 ds1 +
   * i2 ds2 for every i0 < n0, i1 < n1, i2 < n2.
   */
  copyRows(
    src: number,
    dst: number,
    n0: number,
    n1: number,
    n2: number,
    ss0: number,
    ss1: number,
    ss2: number,
    ds0: number,
    ds1: number,
    ds2: number,
    bytes: number,
  ): void;
}
