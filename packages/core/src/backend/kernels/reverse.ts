/**
 * Reverse for the wasm backend, copying on the heap in JavaScript. tfjs-backend-wasm 4.22's C++
 * Reverse computes every element's coordinates on its own and took ~25 ms for a [16, 3, 64, 32, 2]
 * pair swap (RoPE's rotate_half in LightningDiT: 22% of a training step); this takes ~1 ms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type HeapArray, input, type KernelArgs, type WasmBackend } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** Runs at least this long are copied with `set(subarray())`; shorter ones element by element. */
const SHORT_RUN = 32;

/**
 * `x` of shape `dims` (adjacent axes already merged, `rev` true on reversed ones, the last one
 * reversed) reversed along those axes into `dst`, with `inner` contiguous elements per index.
 */
function reverseInto(src: HeapArray, dst: HeapArray, dims: number[], rev: boolean[], inner: number): void {
  const rank = dims.length;
  const n = dims[rank - 1];
  const strides = new Array<number>(rank);
  let s = inner;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= dims[d];
  }
  const outer = rank - 1;
  const count = dims.slice(0, outer).reduce((p, v) => p * v, 1);
  const index = new Array<number>(outer).fill(0);
  const row = n * inner;
  if (inner === 1 && n === 2 && !rev.slice(0, outer).includes(true)) {
    // A swap of adjacent pairs (RoPE's rotate_half).
    for (let i = 0; i < src.length; i += 2) {
      dst[i] = src[i + 1];
      dst[i + 1] = src[i];
    }
    return;
  }
  for (let o = 0; o < count; o++) {
    let base = 0;
    for (let d = 0; d < outer; d++) base += (rev[d] ? dims[d] - 1 - index[d] : index[d]) * strides[d];
    const at = o * row;
    if (inner === 1) {
      for (let j = 0; j < n; j++) dst[at + j] = src[base + n - 1 - j];
    } else {
      for (let j = 0; j < n; j++) {
        const from = base + (n - 1 - j) * inner;
        const to = at + j * inner;
        if (inner >= SHORT_RUN) dst.set(src.subarray(from, from + inner), to);
        else for (let i = 0; i < inner; i++) dst[to + i] = src[from + i];
      }
    }
    for (let d = outer - 1; d >= 0; d--) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
}

/**
 * Wrap the native wasm Reverse `native` (kept for strings and scalars). Inputs: `x`. Attribute
 * `dims`: the axes to reverse (negative counts from the end), as tf.reverse passes them. Returns a
 * tensor of x's shape and dtype.
 */
export function reverseWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = input('Reverse', args.inputs, 'x');
    if (x.dtype === 'string' || x.shape.length === 0) return native(args);
    const axes = tf.util.parseAxisParam((args.attrs?.dims ?? []) as number | number[], x.shape);
    // Merge adjacent axes that are both reversed or both kept; axes of size 1 change nothing.
    const dims: number[] = [];
    const rev: boolean[] = [];
    x.shape.forEach((size, d) => {
      if (size === 1) return;
      const r = axes.includes(d);
      if (dims.length > 0 && rev[rev.length - 1] === r) dims[dims.length - 1] *= size;
      else {
        dims.push(size);
        rev.push(r);
      }
    });
    const be = args.backend as WasmBackend;
    const out = be.makeOutput(x.shape, x.dtype);
    if (tf.util.sizeFromShape(x.shape) === 0) return out;
    const src = be.typedArrayFromHeap(x);
    const dst = be.typedArrayFromHeap(out);
    let inner = 1;
    if (rev.length > 0 && !rev[rev.length - 1]) {
      inner = dims.pop() as number;
      rev.pop();
    }
    if (!rev.includes(true)) dst.set(src);
    else reverseInto(src, dst, dims, rev, inner);
    return out;
  };
}
