/**
 * Identity for the wasm backend without a copy. tfjs runs Identity for `tf.clone` and for every tensor
 * the gradient tape saves for the backward pass (the inputs and outputs of each recorded op);
 * tfjs-backend-wasm 4.22 copies the whole buffer each time. Tensors are immutable, so the output can
 * share the input's buffer and count a reference, as wasm's own Reshape does (and the cpu backend's
 * Identity).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { input, type KernelArgs } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** Wraps wasm's Identity: numeric tensors are shared; strings, stored off the heap, go to `native`. */
export function identityWasm(native: KernelFunc): KernelFunc {
  return (args) => {
    const x = input('Identity', args.inputs, 'x');
    if (x.dtype === 'string') return native(args);
    (args.backend as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
