/**
 * Kernels of our own, with no tfjs counterpart: one pass over the wasm heap each (see simd.ts) where
 * the tensor-op form runs a chain of tfjs kernels. They are registered for the wasm backend only, and
 * only where the SIMD module runs; callers check {@link hasKernel} and otherwise run the tensor ops.
 * Registered kernels show up in `tf.profile` under these names.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapKernels } from './simd.js';
import { heapAddress, input, type KernelArgs, type WasmBackend } from './wasm-backend.js';

/** Exact GELU: inputs `x` (float32). */
export const GELU = 'LdmaeGelu';
/** Its gradient: inputs `x`, `dy` (float32, one shape). */
export const GELU_GRAD = 'LdmaeGeluGrad';
/** Column sums: input `x` [M, N] (float32), output [N]. Differentiable (its gradient broadcasts dy). */
export const SUM_ROWS = 'LdmaeSumRows';
/**
 * One AdamW update: inputs `param`, `grad`, `expAvg`, `expAvgSq` (float32, one shape); attributes
 * `oneMinusB1`, `b2`, `oneMinusB2`, `bc2Sqrt`, `eps`, `stepSize`, `decay` (1 for none); outputs the new
 * param, expAvg and expAvgSq.
 */
export const ADAMW = 'LdmaeAdamW';

/**
 * LayerNorm / RMSNorm over the last axis with a scale and shift: inputs `x` [..., C], `weight` [C] and
 * optionally `bias` [C] (float32); attributes `eps`, `rms` (true: no centring). Outputs y (x's shape),
 * xhat = the normalised x (x's shape) and rstd [rows] = 1 / sqrt(var + eps) per row.
 */
export const NORM = 'LdmaeNorm';
/**
 * Its gradient: inputs `dy`, `xhat`, `rstd` (as {@link NORM} returned them) and `weight`; attribute
 * `rms`. Outputs dx (dy's shape), dweight [C] and dbias [C].
 */
export const NORM_GRAD = 'LdmaeNormGrad';

/** Whether the active backend has our kernel `name`. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Whether the kernels can run on `backend` (tfjs-backend-wasm with WebAssembly SIMD). */
export function fusedAvailable(backend: unknown): boolean {
  return heapKernels(backend) !== null;
}

/** The heap kernels of `be`, or an error naming the kernel `name` that needed them. */
export function kernelsOf(be: WasmBackend, name: string) {
  const k = heapKernels(be);
  if (!k) throw new Error(`${name} (wasm): the WebAssembly SIMD kernels cannot run on this backend`);
  return k;
}

export function geluWasm(args: KernelArgs): tf.TensorInfo {
  const x = input(GELU, args.inputs, 'x');
  const be = args.backend as WasmBackend;
  const y = be.makeOutput(x.shape, 'float32');
  const n = tf.util.sizeFromShape(x.shape);
  if (n > 0) kernelsOf(be, GELU).gelu(heapAddress(be, x), heapAddress(be, y), n);
  return y;
}

export function geluGradWasm(args: KernelArgs): tf.TensorInfo {
  const x = input(GELU_GRAD, args.inputs, 'x');
  const dy = input(GELU_GRAD, args.inputs, 'dy');
  const be = args.backend as WasmBackend;
  const dx = be.makeOutput(x.shape, 'float32');
  const n = tf.util.sizeFromShape(x.shape);
  if (n > 0)
    kernelsOf(be, GELU_GRAD).geluGrad(heapAddress(be, x), heapAddress(be, dy), heapAddress(be, dx), n);
  return dx;
}

export function adamwWasm(args: KernelArgs): tf.TensorInfo[] {
  const [param, grad, expAvg, expAvgSq] = ['param', 'grad', 'expAvg', 'expAvgSq'].map((k) =>
    input(ADAMW, args.inputs, k),
  );
  const a = (args.attrs ?? {}) as Record<string, number>;
  const be = args.backend as WasmBackend;
  const outs = [0, 1, 2].map(() => be.makeOutput(param.shape, 'float32'));
  const n = tf.util.sizeFromShape(param.shape);
  if (n > 0) {
    const [p, g, m, v, pOut, mOut, vOut] = [param, grad, expAvg, expAvgSq, ...outs].map((t) =>
      heapAddress(be, t),
    );
    kernelsOf(be, ADAMW).adamw(
      p,
      g,
      m,
      v,
      pOut,
      mOut,
      vOut,
      n,
      a.oneMinusB1,
      a.b2,
      a.oneMinusB2,
      a.bc2Sqrt,
      a.eps,
      a.stepSize,
      a.decay,
    );
  }
  return outs;
}

export function sumRowsWasm(args: KernelArgs): tf.TensorInfo {
  const x = input(SUM_ROWS, args.inputs, 'x');
  const [m, n] = x.shape;
  const be = args.backend as WasmBackend;
  const out = be.makeOutput([n], 'float32');
  if (n > 0) kernelsOf(be, SUM_ROWS).sumRows(heapAddress(be, x), heapAddress(be, out), m, n);
  return out;
}

tf.registerGradient({
  kernelName: SUM_ROWS,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.mul(tf.onesLike(x), dy as tf.Tensor) };
  },
});

/** [rows, c] of a tensor normalised over its last axis. */
function rowsAndColumns(x: tf.TensorInfo): [number, number] {
  const c = x.shape[x.shape.length - 1] ?? 1;
  return [c === 0 ? 0 : tf.util.sizeFromShape(x.shape) / c, c];
}

export function normWasm(args: KernelArgs): tf.TensorInfo[] {
  const x = input(NORM, args.inputs, 'x');
  const weight = input(NORM, args.inputs, 'weight');
  const bias = args.inputs.bias;
  const { eps, rms } = (args.attrs ?? {}) as { eps: number; rms: boolean };
  const be = args.backend as WasmBackend;
  const [rows, c] = rowsAndColumns(x);
  const y = be.makeOutput(x.shape, 'float32');
  const xhat = be.makeOutput(x.shape, 'float32');
  const rstd = be.makeOutput([rows], 'float32');
  const zeros = bias ? null : be.makeOutput([c], 'float32');
  if (zeros) be.typedArrayFromHeap(zeros).fill(0);
  if (rows > 0) {
    const at = (t: tf.TensorInfo) => heapAddress(be, t);
    kernelsOf(be, NORM).normForward(
      at(x),
      at(weight),
      at(bias ?? (zeros as tf.TensorInfo)),
      at(y),
      at(xhat),
      at(rstd),
      rows,
      c,
      eps,
      rms ? 1 : 0,
    );
  }
  if (zeros) be.disposeData(zeros.dataId);
  return [y, xhat, rstd];
}

export function normGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const [dy, xhat, rstd, weight] = ['dy', 'xhat', 'rstd', 'weight'].map((k) =>
    input(NORM_GRAD, args.inputs, k),
  );
  const { rms } = (args.attrs ?? {}) as { rms: boolean };
  const be = args.backend as WasmBackend;
  const [rows, c] = rowsAndColumns(dy);
  const dx = be.makeOutput(dy.shape, 'float32');
  const dw = be.makeOutput([c], 'float32');
  const db = be.makeOutput([c], 'float32');
  if (rows === 0) {
    be.typedArrayFromHeap(dw).fill(0);
    be.typedArrayFromHeap(db).fill(0);
  } else {
    const [a, b, r, w, o0, o1, o2] = [dy, xhat, rstd, weight, dx, dw, db].map((t) => heapAddress(be, t));
    kernelsOf(be, NORM_GRAD).normBackward(a, b, r, w, o0, o1, o2, rows, c, rms ? 1 : 0);
  }
  return [dx, dw, db];
}
