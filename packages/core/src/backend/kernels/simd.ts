/**
 * Our WebAssembly SIMD kernels, run on tfjs-backend-wasm's own heap: the module imports the backend's
 * memory, so a kernel reads its inputs and writes its outputs where tfjs keeps them, without copies.
 * Each is one pass over the data where tfjs runs a chain of kernels, each a full read and write:
 *
 * - `adamw`: one AdamW update (13 tfjs kernels per parameter). Every operation is an IEEE float32
 *   operation in the order of the tensor-op form, so both give the same bits.
 * - `sumRows`: the column sums of a matrix (bias gradients), where tfjs would multiply by a row of
 *   ones through XNNPACK, packing the matrix first.
 * - `gelu` / `geluGrad`: the exact (erf) GELU and its gradient. tfjs-backend-wasm computes erf and exp
 *   one element at a time with the C library; here a rational erf (Eigen's float approximation, within
 *   2e-7 of erf) and a Cody-Waite exp (cephes' polynomial, within 2 ulp) run four lanes at a time.
 *
 * Every function takes byte addresses and an element count, runs four lanes at a time and finishes
 * the last n mod 4 elements one lane at a time (writing past an output would corrupt its neighbour).
 */
import {
  assembleWasmModule,
  WASM_OP as op,
  WASM_SIMD_OP as simd,
  WASM_TYPE as T,
  WasmFunction,
} from '../../wasm/assembler.js';
import {
  type Emit,
  type Exprs,
  elementwise,
  exp,
  exprs,
  FOUR,
  horner,
  type Lanes,
  splat,
} from './simd-expr.js';
import { type TransformerKernels, transformerFunctions } from './simd-transformer.js';

/**
 * The kernels, bound to one backend's memory; addresses are byte offsets into it. (The SwiGLU,
 * rotary-embedding and head-moving kernels are described in simd-transformer.ts.)
 */
export interface HeapKernels extends TransformerKernels {
  /** The AdamW update; see {@link adamwFunction} for the arguments. */
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    pOut: number,
    mOut: number,
    vOut: number,
    n: number,
    oneMinusB1: number,
    b2: number,
    oneMinusB2: number,
    bc2Sqrt: number,
    eps: number,
    stepSize: number,
    decay: number,
  ): void;
  /** y = x * 0.5 * (1 + erf(x / sqrt 2)). */
  gelu(x: number, y: number, n: number): void;
  /** dx = dy * (cdf(x) + x * pdf(x)). */
  geluGrad(x: number, dy: number, dx: number, n: number): void;
  /** out[j] = sum over i of x[i, j], for x [m, n], adding the rows in order. */
  sumRows(x: number, out: number, m: number, n: number): void;
  /**
   * Normalise each row of x [rows, c] (see {@link normForwardFunction}): xhat, rstd [rows] and
   * y = xhat * w + b.
   */
  normForward(
    x: number,
    w: number,
    b: number,
    y: number,
    xhat: number,
    rstd: number,
    rows: number,
    c: number,
    eps: number,
    rms: number,
  ): void;
  /** The gradient of {@link HeapKernels.normForward}: dx, and dw, db summed over the rows. */
  normBackward(
    dy: number,
    xhat: number,
    rstd: number,
    w: number,
    dx: number,
    dw: number,
    db: number,
    rows: number,
    c: number,
    rms: number,
  ): void;
}

/**
 * adamw(p, g, m, v, pOut, mOut, vOut, n, 1 - b1, b2, 1 - b2, sqrt(1 - b2^t), eps, lr / (1 - b1^t),
 * decay): decay is 1 - lr * weightDecay, or 1 for no decay (x * 1 is x, bit for bit).
 */
function adamwFunction(): WasmFunction {
  const I = T.i32;
  const F = T.f32;
  const f = new WasmFunction('adamw', [I, I, I, I, I, I, I, I, F, F, F, F, F, F, F]);
  const [p, g, m, v, pOut, mOut, vOut, n] = [0, 1, 2, 3, 4, 5, 6, 7];
  const e = exprs(f);
  const [c1, b2, c2, s2, eps, step, decay] = [8, 9, 10, 11, 12, 13, 14].map((k) => splat(f, k));
  elementwise(f, n, (lanes, i) => {
    const G = e.let(() => lanes.load(f, g, i));
    const M = e.let(() => lanes.load(f, m, i));
    // torch's lerp form of the first moment: m + (1 - b1) (g - m).
    const mi = e.let(e.add(M, e.mul(e.sub(G, M), c1)));
    const vi = e.let(
      e.add(
        e.mul(() => lanes.load(f, v, i), b2),
        e.mul(e.mul(G, G), c2),
      ),
    );
    const denom = e.add(e.div(e.sqrt(vi), s2), eps);
    const p0 = e.mul(() => lanes.load(f, p, i), decay);
    lanes.store(f, pOut, i, e.sub(p0, e.mul(e.div(mi, denom), step)));
    lanes.store(f, mOut, i, mi);
    lanes.store(f, vOut, i, vi);
  });
  return f;
}

// Eigen's rational approximation of erf on [-4, 4] (erf is +-1 in float32 beyond): x P(x^2) / Q(x^2).
const ERF_P = [
  -2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5,
  -7.34990630326855e-4, -2.95459980854025e-3, -1.60960333262415e-2,
];
const ERF_Q = [
  -1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3,
  -1.42647390514189e-2,
];

/** erf(z), four lanes. */
function erf(e: Exprs, zIn: Emit): Emit {
  const z = e.let(e.pmax(e.pmin(zIn, e.c(4)), e.c(-4)));
  const z2 = e.let(e.mul(z, z));
  return e.div(e.mul(z, horner(e, z2, ERF_P)), horner(e, z2, ERF_Q));
}

/** 0.5 (1 + erf(x / sqrt 2)), in the order of the tensor-op form. */
const cdf = (e: Exprs, x: Emit) => e.mul(e.c(0.5), e.add(e.c(1), erf(e, e.mul(x, e.c(Math.SQRT1_2)))));

function geluFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('gelu', [I, I, I]);
  const [x, y, n] = [0, 1, 2];
  const e = exprs(f);
  elementwise(f, n, (lanes, i) => {
    const X = e.let(() => lanes.load(f, x, i));
    lanes.store(f, y, i, e.mul(X, cdf(e, X)));
  });
  return f;
}

function geluGradFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('geluGrad', [I, I, I, I]);
  const [x, dy, dx, n] = [0, 1, 2, 3];
  const e = exprs(f);
  elementwise(f, n, (lanes, i) => {
    const X = e.let(() => lanes.load(f, x, i));
    const pdf = e.mul(e.c(1 / Math.sqrt(2 * Math.PI)), exp(f, e, e.mul(e.c(-0.5), e.mul(X, X))));
    lanes.store(
      f,
      dx,
      i,
      e.mul(() => lanes.load(f, dy, i), e.add(cdf(e, X), e.mul(X, pdf))),
    );
  });
  return f;
}

/** sumRows(x, out, m, n): out[j] = sum over rows i in order of x[i, j], for x [m, n] row-major. */
function sumRowsFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('sumRows', [I, I, I, I]);
  const [x, out, m, n] = [0, 1, 2, 3];
  const e = exprs(f);
  const row = f.local(I);
  const base = f.local(I);
  elementwise(f, n, (lanes, i) => lanes.store(f, out, i, e.c(0)));
  f.get(x).set(base);
  f.loop(
    () => f.get(row).get(m).op(op.i32GeU),
    () => {
      // The output row stays in cache while each input row streams past it.
      elementwise(f, n, (lanes, i) =>
        lanes.store(
          f,
          out,
          i,
          e.add(
            () => lanes.load(f, out, i),
            () => lanes.load(f, base, i),
          ),
        ),
      );
      f.get(base).get(n).i32(2).op(op.i32Shl).op(op.i32Add).set(base);
      f.inc(row, 1);
    },
  );
  return f;
}

/**
 * Push the sum over byte index `i` < 4 n of the four-lane values `value(lanes, i)` pushes: blocks of
 * four lanes into one accumulator, the tail into another (its lanes all hold the tail value), then
 * the four lanes of the first in order and lane 0 of the second, as an f32.
 */
function rowSum(f: WasmFunction, n: number, value: (lanes: Lanes, i: number) => void): void {
  const acc4 = f.local(T.v128);
  const acc1 = f.local(T.v128);
  f.zero().set(acc4).zero().set(acc1);
  elementwise(f, n, (lanes, i) => {
    const acc = lanes === FOUR ? acc4 : acc1;
    f.get(acc);
    value(lanes, i);
    f.v(simd.f32Add).set(acc);
  });
  f.get(acc4).v(simd.f32Extract, 0).get(acc4).v(simd.f32Extract, 1).op(op.f32Add);
  f.get(acc4).v(simd.f32Extract, 2).op(op.f32Add).get(acc4).v(simd.f32Extract, 3).op(op.f32Add);
  f.get(acc1).v(simd.f32Extract, 0).op(op.f32Add);
}

/**
 * normForward(x, w, b, y, xhat, rstd, rows, c, eps, rms), for each row of x [rows, c]:
 * mean = sum(x) / c (0 when `rms`), rstd = 1 / sqrt(sum((x - mean)^2) / c + eps),
 * xhat = (x - mean) rstd, y = xhat w + b (w, b [c]). LayerNorm (rms 0) and RMSNorm (rms 1) in one
 * pass over the row each for the two sums and one for the outputs, where the tensor-op form runs nine
 * kernels over the whole tensor.
 */
function normForwardFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('normForward', [I, I, I, I, I, I, I, I, T.f32, I]);
  const [x, w, b, y, xhat, rstd, rows, c, eps, rms] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const e = exprs(f);
  const row = f.local(I);
  const mean = f.local(T.f32);
  const r = f.local(T.f32);
  const meanV = f.local(T.v128);
  const rV = f.local(T.v128);
  const cf = f.local(T.f32);
  f.get(c).op(op.f32ConvertI32S).set(cf);
  f.loop(
    () => f.get(row).get(rows).op(op.i32GeU),
    () => {
      f.f32(0).set(mean);
      f.get(rms).op(op.i32Eqz).op(op.if, op.void);
      rowSum(f, c, (lanes, i) => lanes.load(f, x, i));
      f.get(cf).op(op.f32Div).set(mean);
      f.op(op.end);
      f.get(mean).v(simd.f32Splat).set(meanV);
      rowSum(f, c, (lanes, i) => {
        const d = e.let(e.sub(() => lanes.load(f, x, i), e.get(meanV)));
        e.mul(d, d)();
      });
      f.get(cf).op(op.f32Div).get(eps).op(op.f32Add).op(op.f32Sqrt).set(r);
      f.f32(1).get(r).op(op.f32Div).set(r);
      f.get(rstd).get(r).op(op.f32Store, 2, 0);
      f.get(r).v(simd.f32Splat).set(rV);
      elementwise(f, c, (lanes, i) => {
        const h = e.let(
          e.mul(
            e.sub(() => lanes.load(f, x, i), e.get(meanV)),
            e.get(rV),
          ),
        );
        lanes.store(f, xhat, i, h);
        lanes.store(
          f,
          y,
          i,
          e.add(
            e.mul(h, () => lanes.load(f, w, i)),
            () => lanes.load(f, b, i),
          ),
        );
      });
      for (const ptr of [x, y, xhat]) f.get(ptr).get(c).i32(2).op(op.i32Shl).op(op.i32Add).set(ptr);
      f.inc(rstd, 4);
      f.inc(row, 1);
    },
  );
  return f;
}

/**
 * normBackward(dy, xhat, rstd, w, dx, dw, db, rows, c, rms): with g = dy w per row,
 * dx = rstd (g - sum(g) / c - xhat sum(g xhat) / c) (no sum(g) term when `rms`); dw = sum over rows of
 * dy xhat and db = sum over rows of dy, both [c], adding the rows in order.
 */
function normBackwardFunction(): WasmFunction {
  const I = T.i32;
  const f = new WasmFunction('normBackward', [I, I, I, I, I, I, I, I, I, I]);
  const [dy, xhat, rstd, w, dx, dw, db, rows, c, rms] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const e = exprs(f);
  const row = f.local(I);
  const cf = f.local(T.f32);
  const s1 = f.local(T.v128);
  const s2 = f.local(T.v128);
  const rV = f.local(T.v128);
  f.get(c).op(op.f32ConvertI32S).set(cf);
  elementwise(f, c, (lanes, i) => {
    lanes.store(f, dw, i, e.c(0));
    lanes.store(f, db, i, e.c(0));
  });
  const g = (lanes: Lanes, i: number) =>
    e.mul(
      () => lanes.load(f, dy, i),
      () => lanes.load(f, w, i),
    );
  f.loop(
    () => f.get(row).get(rows).op(op.i32GeU),
    () => {
      f.get(rms).op(op.i32Eqz).op(op.if, T.f32);
      rowSum(f, c, (lanes, i) => g(lanes, i)());
      f.op(op.else).f32(0).op(op.end);
      f.get(cf).op(op.f32Div).v(simd.f32Splat).set(s1);
      rowSum(f, c, (lanes, i) => e.mul(g(lanes, i), () => lanes.load(f, xhat, i))());
      f.get(cf).op(op.f32Div).v(simd.f32Splat).set(s2);
      f.get(rstd).op(op.f32Load, 2, 0).v(simd.f32Splat).set(rV);
      elementwise(f, c, (lanes, i) => {
        const h = e.let(() => lanes.load(f, xhat, i));
        const d = e.let(() => lanes.load(f, dy, i));
        lanes.store(f, dx, i, e.mul(e.sub(e.sub(g(lanes, i), e.get(s1)), e.mul(h, e.get(s2))), e.get(rV)));
        lanes.store(
          f,
          dw,
          i,
          e.add(() => lanes.load(f, dw, i), e.mul(d, h)),
        );
        lanes.store(
          f,
          db,
          i,
          e.add(() => lanes.load(f, db, i), d),
        );
      });
      for (const ptr of [dy, xhat, dx]) f.get(ptr).get(c).i32(2).op(op.i32Shl).op(op.i32Add).set(ptr);
      f.inc(rstd, 4);
      f.inc(row, 1);
    },
  );
  return f;
}

/** The module of `fns` importing a memory shared or not, or null where the engine refuses it. */
export function compileKernels(fns: () => WasmFunction[], shared: boolean): WebAssembly.Module | null {
  try {
    const bytes = assembleWasmModule(fns(), shared);
    return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    return null;
  }
}

/** Whether `memory` is shared (tfjs's threaded build): a module must declare it so to import it. */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
}

/** The exports of `module` instantiated on `memory` (as `env.mem`), or null when that fails. */
export function instantiateOn<T>(module: WebAssembly.Module | null, memory: WebAssembly.Memory): T | null {
  if (!module) return null;
  try {
    return new WebAssembly.Instance(module, { env: { mem: memory } }).exports as unknown as T;
  } catch {
    return null;
  }
}

const compiled = new Map<boolean, WebAssembly.Module | null>();
const bound = new WeakMap<WebAssembly.Memory, HeapKernels | null>();

function compile(shared: boolean): WebAssembly.Module | null {
  if (!compiled.has(shared)) {
    const fns = () => [
      adamwFunction(),
      geluFunction(),
      geluGradFunction(),
      sumRowsFunction(),
      normForwardFunction(),
      normBackwardFunction(),
      ...transformerFunctions(),
    ];
    compiled.set(shared, compileKernels(fns, shared));
  }
  return compiled.get(shared) ?? null;
}

/** The memory of a tfjs-backend-wasm backend (its emscripten module's), or null. */
export function backendMemory(backend: unknown): WebAssembly.Memory | null {
  if (typeof WebAssembly !== 'object') return null;
  const wasm = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } } | null)?.wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/**
 * The kernels on `backend`'s heap, or null where they cannot run (not tfjs-backend-wasm, no
 * WebAssembly SIMD): callers then run tensor ops.
 */
export function heapKernels(backend: unknown): HeapKernels | null {
  const memory = backendMemory(backend);
  if (!memory) return null;
  if (!bound.has(memory))
    bound.set(memory, instantiateOn<HeapKernels>(compile(isSharedMemory(memory)), memory));
  return bound.get(memory) ?? null;
}
