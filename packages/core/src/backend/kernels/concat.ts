/**
 * Concat for the wasm backend, moving each run with `copyWithin` inside the heap. tfjs-backend-wasm
 * 4.22 makes a `subarray` view per input per outer index: concatenating attention's dq, dk and dv
 * ([32, 36, 64] each, the gradient of the qkv split) made 3,456 views and took 2-4 ms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapAddress, type KernelArgs, type WasmBackend } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Wrap the native wasm Concat `native`, which keeps strings, bools and complex numbers. Inputs: the
 * tensors to join, in order. Attribute `axis`. Returns them joined along `axis`.
 */
export function concatWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const all = Object.values(args.inputs) as tf.TensorInfo[];
    const dtype = all[0]?.dtype;
    if (dtype !== 'float32' && dtype !== 'int32') return native(args);
    const axis = tf.util.parseAxisParam(args.attrs?.axis as number, all[0].shape)[0];
    tf.backend_util.assertParamsConsistent(
      all.map((t) => t.shape),
      axis,
    );
    const outShape = tf.backend_util.computeOutShape(
      all.map((t) => t.shape),
      axis,
    );
    const inputs = all.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    const be = args.backend as WasmBackend;
    const out = be.makeOutput(outShape, dtype);
    if (inputs.length === 0) return out;
    // Element indices into one view of the whole heap; views only after the allocation above.
    const heap = new Int32Array(be.typedArrayFromHeap(out).buffer);
    const at = (t: tf.TensorInfo) => heapAddress(be, t) >> 2;
    const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
    const runs = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const starts = inputs.map(at);
    let to = at(out);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inputs.length; i++) {
        const from = starts[i] + o * runs[i];
        heap.copyWithin(to, from, from + runs[i]);
        to += runs[i];
      }
    }
    return out;
  };
}
