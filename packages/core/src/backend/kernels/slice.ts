/**
 * Slice and SplitV for the wasm backend, copying straight from the heap. tfjs-backend-wasm 4.22's
 * Slice first reads its whole input back with `readSync` (a fresh JS copy of every byte, slice or
 * not), and SplitV calls that Slice once per piece: splitting a fused qkv [32, 49, 576] in three
 * copied 11 MB and took 12-65 ms (more under load, from the garbage it leaves) for 3.6 MB of output.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type HeapArray, input, type KernelArgs, type WasmBackend } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;
type MultiKernelFunc = (args: KernelArgs) => tf.TensorInfo[];

/** Runs shorter than this are copied element by element: `set(subarray())` costs more there. */
const SHORT_RUN = 32;

/** Copy the box `begin`/`size` of `src` (shape `shape`) into `dst`, densely, in row-major order. */
function copyBox(src: HeapArray, shape: number[], begin: number[], size: number[], dst: HeapArray): void {
  // Merge trailing axes taken whole into one contiguous run, and drop leading axes of size 1.
  let inner = shape.length - 1;
  let run = size[inner];
  while (inner > 0 && size[inner] === shape[inner]) {
    inner--;
    run *= size[inner];
  }
  const strides = tf.util.computeStrides(shape);
  const stride = (d: number) => (d < shape.length - 1 ? strides[d] : 1);
  let base = 0;
  for (let d = 0; d < shape.length; d++) base += begin[d] * stride(d);
  const outerAxes: number[] = [];
  for (let d = 0; d < inner; d++) if (size[d] > 1) outerAxes.push(d);
  const count = outerAxes.reduce((p, d) => p * size[d], 1);
  const index = new Array(outerAxes.length).fill(0);
  let offset = base;
  for (let r = 0; r < count; r++) {
    const at = r * run;
    if (run >= SHORT_RUN) dst.set(src.subarray(offset, offset + run), at);
    else for (let i = 0; i < run; i++) dst[at + i] = src[offset + i];
    // Odometer step over the outer axes, innermost first.
    for (let j = outerAxes.length - 1; j >= 0; j--) {
      const d = outerAxes[j];
      offset += stride(d);
      if (++index[j] < size[d]) break;
      offset -= size[d] * stride(d);
      index[j] = 0;
    }
  }
}

/** Allocate every box first (allocation can grow the heap and detach views), then copy. */
function sliceBoxes(be: WasmBackend, x: tf.TensorInfo, boxes: [number[], number[]][]): tf.TensorInfo[] {
  const outs = boxes.map(([, size]) => be.makeOutput(size, x.dtype));
  const src = be.typedArrayFromHeap(x);
  boxes.forEach(([begin, size], i) => {
    if (tf.util.sizeFromShape(size) > 0) copyBox(src, x.shape, begin, size, be.typedArrayFromHeap(outs[i]));
  });
  return outs;
}

/**
 * Wrap the native wasm Slice `native` (kept for strings). Inputs: `x`. Attributes `begin`, `size`
 * as tf.slice passes them (size -1: to the end). Returns the box, shape `size` resolved.
 */
export function sliceWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = input('Slice', args.inputs, 'x');
    if (x.dtype === 'string' || x.shape.length === 0) return native(args);
    const attrs = args.attrs ?? {};
    const [begin, size] = tf.slice_util.parseSliceParams(
      x as tf.Tensor,
      attrs.begin as number | number[],
      attrs.size as number | number[] | undefined,
    );
    tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
    return sliceBoxes(args.backend as WasmBackend, x, [[begin, size]])[0];
  };
}

/**
 * Wrap the native wasm SplitV `native` (kept for strings). Inputs: `x`. Attributes
 * `numOrSizeSplits`, `axis` as tf.split passes them. Returns the pieces along `axis`.
 */
export function splitVWasm(native: MultiKernelFunc): MultiKernelFunc {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const x = input('SplitV', args.inputs, 'x');
    if (x.dtype === 'string' || x.shape.length === 0) return native(args);
    const attrs = args.attrs ?? {};
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(
      x as tf.Tensor,
      attrs.numOrSizeSplits as number | number[],
      axis,
    );
    let start = 0;
    const boxes = sizes.map((s): [number[], number[]] => {
      const begin = x.shape.map((_, d) => (d === axis ? start : 0));
      const size = x.shape.map((n, d) => (d === axis ? s : n));
      start += s;
      return [begin, size];
    });
    return sliceBoxes(args.backend as WasmBackend, x, boxes);
  };
}
