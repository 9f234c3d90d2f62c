/**
 * Our one-pass wasm kernels for LightningDiT's SwiGLU gate and rotary embedding (see
 * simd-transformer.ts). Registered for the wasm backend only, where the SIMD module runs; callers check
 * `hasKernel` and otherwise run the tensor ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { kernelsOf } from './fused.js';
import { heapAddress, input, type KernelArgs, type WasmBackend } from './wasm-backend.js';

/** SwiGLU gate: input `x` [..., 2h] (float32) = [a, b] along the last axis; output silu(a) * b [..., h]. */
export const SWIGLU = 'LdmaeSwiGLU';
/** Its gradient: inputs `x` [..., 2h] and `dy` [..., h]; output dx [..., 2h] = [d a, d b]. */
export const SWIGLU_GRAD = 'LdmaeSwiGLUGrad';
/**
 * Rotary embedding: inputs `x` [..., N, D], `cos` and `sin` [N, D] (float32, D a multiple of 4), `sin`
 * holding the signed sines (even channels negated); attribute `inverse` (the transposed rotation, for
 * the gradient). Output x * cos + pairSwap(x) * sin (minus for `inverse`).
 */
export const ROPE = 'LdmaeRope';

/** [rows, h] of a gate input [..., 2h]. */
function gateRows(x: tf.TensorInfo): [number, number] {
  const h = (x.shape[x.shape.length - 1] ?? 0) / 2;
  return [h === 0 ? 0 : tf.util.sizeFromShape(x.shape) / (2 * h), h];
}

export function swigluWasm(args: KernelArgs): tf.TensorInfo {
  const x = input(SWIGLU, args.inputs, 'x');
  const be = args.backend as WasmBackend;
  const [rows, h] = gateRows(x);
  const y = be.makeOutput([...x.shape.slice(0, -1), h], 'float32');
  if (rows * h > 0) kernelsOf(be, SWIGLU).swiglu(heapAddress(be, x), heapAddress(be, y), rows, h);
  return y;
}

export function swigluGradWasm(args: KernelArgs): tf.TensorInfo {
  const x = input(SWIGLU_GRAD, args.inputs, 'x');
  const dy = input(SWIGLU_GRAD, args.inputs, 'dy');
  const be = args.backend as WasmBackend;
  const [rows, h] = gateRows(x);
  const dx = be.makeOutput(x.shape, 'float32');
  if (rows * h > 0) {
    const [a, b, c] = [x, dy, dx].map((t) => heapAddress(be, t));
    kernelsOf(be, SWIGLU_GRAD).swigluGrad(a, b, c, rows, h);
  }
  return dx;
}

export function ropeWasm(args: KernelArgs): tf.TensorInfo {
  const [x, cos, sin] = ['x', 'cos', 'sin'].map((k) => input(ROPE, args.inputs, k));
  const inverse = Boolean(args.attrs?.inverse);
  const be = args.backend as WasmBackend;
  const y = be.makeOutput(x.shape, 'float32');
  const total = tf.util.sizeFromShape(x.shape);
  if (total > 0) {
    const [px, pc, ps, py] = [x, cos, sin, y].map((t) => heapAddress(be, t));
    kernelsOf(be, ROPE).rope(px, pc, ps, py, total, tf.util.sizeFromShape(cos.shape), inverse ? -1 : 1);
  }
  return y;
}
