/**
 * Our one-pass wasm kernels for LightningDiT's SwiGLU gate and rotary embedding, and for attention's
 * head split and merge (see simd-transformer.ts). Registered for the wasm backend only, where the SIMD module runs; callers check
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

/**
 * Attention's heads out of a fused projection: input `x` [B, N, parts * heads * d] (float32);
 * attributes `parts`, `heads` and optionally `part`. Outputs `parts` tensors [B, heads, N, d] (only
 * part `part` when given): part p, head h is x[b, n, (p * heads + h) * d + c]. (For qkv, parts = 3.)
 */
export const SPLIT_HEADS = 'LdmaeSplitHeads';
/**
 * The inverse of {@link SPLIT_HEADS}: inputs `x0`, `x1`, ... (one per part, each [B, heads, N, d],
 * float32) and attributes `parts`, `heads` (as the inputs say); output [B, N, parts * heads * d].
 * With one part it merges attention's output heads.
 */
export const MERGE_HEADS = 'LdmaeMergeHeads';

/**
 * The strides (bytes) of [B, heads, N] rows of d floats in the fused layout, whose rows start at part
 * `p` of [B, N, parts * heads * d], and in the heads layout [B, heads, N, d].
 */
function headStrides(b: number, n: number, parts: number, heads: number, d: number) {
  type Three = [number, number, number];
  const fused: Three = [n * parts * heads * d * 4, d * 4, parts * heads * d * 4];
  const split: Three = [heads * n * d * 4, n * d * 4, d * 4];
  const counts: Three = [b, heads, n];
  return { counts, fused, split, partBytes: heads * d * 4, rowBytes: d * 4 };
}

export function splitHeadsWasm(args: KernelArgs): tf.TensorInfo[] {
  const x = input(SPLIT_HEADS, args.inputs, 'x');
  const { parts, heads, part } = (args.attrs ?? {}) as { parts: number; heads: number; part?: number };
  const [b, n, width] = x.shape;
  const d = width / (parts * heads);
  const be = args.backend as WasmBackend;
  const which = part === undefined ? Array.from({ length: parts }, (_, p) => p) : [part];
  const outs = which.map(() => be.makeOutput([b, heads, n, d], 'float32'));
  if (b * n * d > 0) {
    const k = kernelsOf(be, SPLIT_HEADS);
    const s = headStrides(b, n, parts, heads, d);
    const src = heapAddress(be, x);
    outs.forEach((o, i) => {
      const dst = heapAddress(be, o);
      k.copyRows(src + which[i] * s.partBytes, dst, ...s.counts, ...s.fused, ...s.split, s.rowBytes);
    });
  }
  return outs;
}

export function mergeHeadsWasm(args: KernelArgs): tf.TensorInfo {
  const parts = Object.keys(args.inputs).length;
  const xs = Array.from({ length: parts }, (_, p) => input(MERGE_HEADS, args.inputs, `x${p}`));
  const [b, heads, n, d] = xs[0].shape;
  const be = args.backend as WasmBackend;
  const out = be.makeOutput([b, n, parts * heads * d], 'float32');
  if (b * n * d > 0) {
    const k = kernelsOf(be, MERGE_HEADS);
    const s = headStrides(b, n, parts, heads, d);
    const dst = heapAddress(be, out);
    xs.forEach((x, p) => {
      k.copyRows(heapAddress(be, x), dst + p * s.partBytes, ...s.counts, ...s.split, ...s.fused, s.rowBytes);
    });
  }
  return out;
}

/** The heads-layout inputs of {@link MERGE_HEADS}, named as it takes them. */
export function headInputs(xs: readonly tf.Tensor[]): tf.NamedTensorMap {
  return Object.fromEntries(xs.map((x, p) => [`x${p}`, x]));
}

tf.registerGradient({
  kernelName: SPLIT_HEADS,
  gradFunc: (dy, _saved, attrs) => {
    const { parts, heads, part } = attrs as unknown as { parts: number; heads: number; part?: number };
    // tfjs hands a kernel with one output its dy alone.
    const dys = Array.isArray(dy) ? dy : [dy];
    // With one part taken, the others had no gradient.
    const all = () =>
      part === undefined
        ? dys
        : Array.from({ length: parts }, (_, p) => (p === part ? dys[0] : tf.zerosLike(dys[0])));
    return {
      x: () => tf.engine().runKernel(MERGE_HEADS, headInputs(all()), { parts, heads }) as tf.Tensor,
    };
  },
});

tf.registerGradient({
  kernelName: MERGE_HEADS,
  gradFunc: (dy, _saved, attrs) => {
    const { parts, heads } = attrs as unknown as { parts: number; heads: number };
    const part = (p: number) => () =>
      (
        tf.engine().runKernel(SPLIT_HEADS, { x: dy as tf.Tensor }, { parts, heads, part: p }) as tf.Tensor[]
      )[0];
    return Object.fromEntries(Array.from({ length: parts }, (_, p) => [`x${p}`, part(p)]));
  },
});
