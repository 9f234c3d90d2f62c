/**
 * Identity for the wasm backend that shares the input's buffer, as the cpu, webgl and webgpu backends
 * do. tfjs-backend-wasm 4.22 copies it instead, and tfjs runs Identity for every tensor a custom
 * gradient saves (`tf.clone`): about 280 copies per VMAE training step and 600 per LightningDiT step
 * (4 % and 3 % of the step). Sharing is safe because no kernel writes into its inputs: a variable's
 * `assign` swaps in a new buffer.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { input, type KernelArgs } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** The part of tfjs-backend-wasm's `BackendWasm` that sharing needs. */
interface RefCounting {
  incRef(dataId: tf.DataId): void;
}

/** Wrap the native wasm Identity `native`, which keeps string tensors. Inputs: `x`. */
export function identityWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = input('Identity', args.inputs, 'x');
    if (x.dtype === 'string') return native(args);
    (args.backend as RefCounting).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
