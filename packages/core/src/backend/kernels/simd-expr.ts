/**
 * Building blocks of our WebAssembly SIMD kernels: an elementwise loop (four lanes, then a one-lane
 * tail), small expression helpers that push one v128 each, and exp / sigmoid four lanes at a time.
 */
import {
  WASM_OP as op,
  WASM_SIMD_OP as simd,
  WASM_TYPE as T,
  type WasmFunction,
} from '../../wasm/assembler.js';

export type Emit = () => void;

/** How an elementwise body reads and writes: four lanes at a time, or one lane (the tail). */
export interface Lanes {
  /** Push the value at base address local `base` + byte index local `i`. */
  load(f: WasmFunction, base: number, i: number): void;
  /** Store the value `value` pushes at `base` + `i`. */
  store(f: WasmFunction, base: number, i: number, value: Emit): void;
}

const MEMARG = [2, 0]; // 4-byte alignment hint, offset 0

export const FOUR: Lanes = {
  load: (f, base, i) =>
    f
      .get(base)
      .get(i)
      .op(op.i32Add)
      .v(simd.load, ...MEMARG),
  store: (f, base, i, value) => {
    f.get(base).get(i).op(op.i32Add);
    value();
    f.v(simd.store, ...MEMARG);
  },
};

const ONE: Lanes = {
  load: (f, base, i) =>
    f
      .get(base)
      .get(i)
      .op(op.i32Add)
      .v(simd.load32Splat, ...MEMARG),
  store: (f, base, i, value) => {
    f.get(base).get(i).op(op.i32Add);
    value();
    f.v(simd.store32Lane, ...MEMARG, 0);
  },
};

/**
 * `body(lanes, i)` over byte index local `i` for `n` (parameter index) floats: blocks of four lanes,
 * then one lane at a time.
 */
export function elementwise(f: WasmFunction, n: number, body: (lanes: Lanes, i: number) => void): void {
  const i = f.local(T.i32);
  const end4 = f.local(T.i32);
  const end = f.local(T.i32);
  f.get(n).i32(2).op(op.i32Shl).set(end);
  f.get(end).i32(~15).op(op.i32And).set(end4);
  f.i32(0).set(i);
  f.loop(
    () => f.get(i).get(end4).op(op.i32GeU),
    () => {
      body(FOUR, i);
      f.inc(i, 16);
    },
  );
  f.loop(
    () => f.get(i).get(end).op(op.i32GeU),
    () => {
      body(ONE, i);
      f.inc(i, 4);
    },
  );
}

/** Small expression helpers: each pushes one v128. */
export function exprs(f: WasmFunction) {
  const bin = (opcode: number) => (a: Emit, b: Emit) => () => {
    a();
    b();
    f.v(opcode);
  };
  return {
    get: (l: number) => () => void f.get(l),
    c: (v: number) => () => void f.f32x4Const(v),
    add: bin(simd.f32Add),
    sub: bin(simd.f32Sub),
    mul: bin(simd.f32Mul),
    div: bin(simd.f32Div),
    or: bin(simd.or),
    /** b < a ? b : a: a NaN in `a` passes through. */
    pmin: bin(simd.f32Pmin),
    /** a < b ? b : a: a NaN in `a` passes through. */
    pmax: bin(simd.f32Pmax),
    sqrt: (a: Emit) => () => {
      a();
      f.v(simd.f32Sqrt);
    },
    /** Evaluate `e` into a new v128 local and return a getter. */
    let: (e: Emit) => {
      const l = f.local(T.v128);
      e();
      f.set(l);
      return () => void f.get(l);
    },
  };
}

/** A v128 local holding scalar parameter `param` (f32) in every lane. */
export function splat(f: WasmFunction, param: number): Emit {
  const l = f.local(T.v128);
  f.get(param).v(simd.f32Splat).set(l);
  return () => void f.get(l);
}

// cephes' expf: exp(r) = 1 + r + r^2 P(r) on [-ln2 / 2, ln2 / 2], after exp(x) = 2^n exp(r).
const EXP_P = [1.98756915e-4, 1.39819995e-3, 8.33345191e-3, 4.16657959e-2, 1.66666655e-1, 5.00000012e-1];
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;

/** Horner: coefficients from the highest power down. */
export function horner(e: Exprs, x: Emit, coeffs: number[]): Emit {
  let acc: Emit = e.c(coeffs[0]);
  for (const k of coeffs.slice(1)) acc = e.add(e.mul(acc, x), e.c(k));
  return acc;
}

/** 1.5 2^23 + 127: adding it rounds to an integer n and leaves n + 127 in the low mantissa bits. */
const EXP_MAGIC = 12583039;

/**
 * exp(t), four lanes, for t <= 0 (below ln of the smallest normal float, the smallest normal float).
 * n = round(t log2 e) comes from adding {@link EXP_MAGIC}, whose low bits then hold n + 127, and 2^n is
 * those bits shifted into the exponent (as XNNPACK's exp kernels do).
 */
export function exp(f: WasmFunction, e: Exprs, tIn: Emit): Emit {
  const t = e.let(e.pmax(tIn, e.c(-87.3365478515625)));
  const z = e.let(e.add(e.mul(t, e.c(Math.LOG2E)), e.c(EXP_MAGIC)));
  const nf = e.let(e.sub(z, e.c(EXP_MAGIC)));
  const r = e.let(e.sub(e.sub(t, e.mul(nf, e.c(LN2_HI))), e.mul(nf, e.c(LN2_LO))));
  const poly = e.add(e.add(e.mul(e.mul(horner(e, r, EXP_P), r), r), r), e.c(1));
  const scale: Emit = () => {
    z();
    f.i32(23).v(simd.i32Shl);
  };
  return e.mul(poly, scale);
}

/**
 * sigmoid(a), four lanes: 1 / (1 + e) for a >= 0 and e / (1 + e) below, with e = exp(-|a|), so that
 * neither side overflows or loses its relative precision.
 */
export function sigmoid(f: WasmFunction, e: Exprs, a: Emit): Emit {
  // -|a| sets the sign bit; a's sign bit, spread over its lane, picks the numerator.
  const ex = e.let(exp(f, e, e.or(a, e.c(-0))));
  const num: Emit = () => {
    ex();
    f.f32x4Const(1);
    a();
    f.i32(31).v(simd.i32ShrS).v(simd.bitselect);
  };
  return e.div(num, e.add(e.c(1), ex));
}

/** The helpers {@link exprs} returns. */
export type Exprs = ReturnType<typeof exprs>;
