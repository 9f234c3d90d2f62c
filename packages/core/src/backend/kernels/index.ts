/**
 * Kernels that tfjs's wasm backend lacks, or gets wrong, but training needs; registered on demand by
 * `setupBackend`.
 *
 * Known wasm limits we do not fix: FFT / IFFT and every complex64 op (the wasm backend has no complex
 * storage); the gradient of conv2d / depthwiseConv2d with dilations > 1 (tfjs refuses it on every
 * backend). Einsum is registered forward only, as tfjs has no Einsum gradient anywhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolGradWasm } from './avg-pool-grad.js';
import { batchMatMulWasm, fusedMatMulWasm } from './batch-matmul.js';
import { concatWasm } from './concat.js';
import { conv2DBackpropFilterWasm } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputWasm } from './conv2d-backprop-input.js';
import {
  depthwiseConv2dNativeBackpropFilterWasm,
  depthwiseConv2dNativeBackpropInputWasm,
} from './depthwise-conv2d-backprop.js';
import { einsumWasm } from './einsum.js';
import {
  ADAMW,
  adamwWasm,
  fusedAvailable,
  GELU,
  GELU_GRAD,
  geluGradWasm,
  geluWasm,
  NORM,
  NORM_GRAD,
  normGradWasm,
  normWasm,
  SUM_ROWS,
  sumRowsWasm,
} from './fused.js';
import {
  MERGE_HEADS,
  mergeHeadsWasm,
  ROPE,
  ropeWasm,
  SPLIT_HEADS,
  SWIGLU,
  SWIGLU_GRAD,
  splitHeadsWasm,
  swigluGradWasm,
  swigluWasm,
} from './fused-transformer.js';
import { gatherV2WithBatchDims } from './gather-v2.js';
import { identityWasm } from './identity.js';
import { maxPoolGradWasm } from './max-pool-grad.js';
import { reverseWasm } from './reverse.js';
import { sliceWasm, splitVWasm } from './slice.js';
import { unsortedSegmentSumWasm } from './unsorted-segment-sum.js';
import type { KernelArgs } from './wasm-backend.js';
import { addNChunked } from './webgpu-add-n.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** Marks kernel functions we registered; Symbol.for so two copies of this package agree. */
const OURS = Symbol.for('@ldmae/core.wasmKernel');

interface Entry {
  name: string;
  /** 'missing': register only when wasm has none. 'replace': wrap or replace wasm's buggy or slow kernel. */
  mode: 'missing' | 'replace';
  make: (native: KernelFunc | undefined) => KernelFunc;
  /** Register only where this holds for the backend instance (default: always). */
  available?: (backend: unknown) => boolean;
}

/** An entry that replaces the backend's own kernel `name`, which `wrap` may fall back on. */
function wrapping(name: string, wrap: (native: KernelFunc) => KernelFunc): Entry {
  return {
    name,
    mode: 'replace',
    make: (native) => {
      if (!native) throw new Error(`registerMissingKernels: the wasm backend has no ${name} kernel to wrap`);
      return wrap(native);
    },
  };
}

const ENTRIES: readonly Entry[] = [
  { name: 'Conv2DBackpropFilter', mode: 'missing', make: () => conv2DBackpropFilterWasm },
  {
    name: 'DepthwiseConv2dNativeBackpropFilter',
    mode: 'missing',
    make: () => depthwiseConv2dNativeBackpropFilterWasm,
  },
  {
    name: 'DepthwiseConv2dNativeBackpropInput',
    mode: 'missing',
    make: () => depthwiseConv2dNativeBackpropInputWasm,
  },
  { name: 'UnsortedSegmentSum', mode: 'missing', make: () => unsortedSegmentSumWasm },
  { name: 'Einsum', mode: 'missing', make: () => einsumWasm },
  { name: GELU, mode: 'missing', make: () => geluWasm, available: fusedAvailable },
  { name: GELU_GRAD, mode: 'missing', make: () => geluGradWasm, available: fusedAvailable },
  { name: SUM_ROWS, mode: 'missing', make: () => sumRowsWasm, available: fusedAvailable },
  { name: SWIGLU, mode: 'missing', make: () => swigluWasm, available: fusedAvailable },
  { name: SWIGLU_GRAD, mode: 'missing', make: () => swigluGradWasm, available: fusedAvailable },
  { name: ROPE, mode: 'missing', make: () => ropeWasm, available: fusedAvailable },
  {
    name: SPLIT_HEADS,
    mode: 'missing',
    make: () => splitHeadsWasm as unknown as KernelFunc,
    available: fusedAvailable,
  },
  { name: MERGE_HEADS, mode: 'missing', make: () => mergeHeadsWasm, available: fusedAvailable },
  { name: NORM, mode: 'missing', make: () => normWasm as unknown as KernelFunc, available: fusedAvailable },
  {
    name: NORM_GRAD,
    mode: 'missing',
    make: () => normGradWasm as unknown as KernelFunc,
    available: fusedAvailable,
  },
  {
    name: ADAMW,
    mode: 'missing',
    make: () => adamwWasm as unknown as KernelFunc,
    available: fusedAvailable,
  },
  wrapping('GatherV2', gatherV2WithBatchDims),
  { name: 'MaxPoolGrad', mode: 'replace', make: () => maxPoolGradWasm },
  wrapping('AvgPoolGrad', avgPoolGradWasm),
  { name: 'Conv2DBackpropInput', mode: 'replace', make: () => conv2DBackpropInputWasm },
  wrapping('BatchMatMul', batchMatMulWasm),
  wrapping('_FusedMatMul', fusedMatMulWasm),
  wrapping('Slice', sliceWasm),
  wrapping('SplitV', (native) => {
    const split = splitVWasm(native as unknown as (args: KernelArgs) => tf.TensorInfo[]);
    return split as unknown as KernelFunc;
  }),
  wrapping('Concat', concatWasm),
  wrapping('Identity', identityWasm),
  wrapping('Reverse', reverseWasm),
];

/**
 * Names of the kernels `registerMissingKernels('wasm')` registers for the wasm backend
 * (tfjs-backend-wasm 4.22):
 * - added because wasm has none: Conv2DBackpropFilter (conv2d's filter gradient),
 *   DepthwiseConv2dNativeBackpropFilter / -Input (depthwiseConv2d's gradients), UnsortedSegmentSum
 *   (tf.gather's gradient: MAE token masking, embedding tables), Einsum (forward only);
 * - replaced because wasm's is wrong: GatherV2 (batchDims > 0 read wrong rows; batchDims = 0 still
 *   runs the native kernel), MaxPoolGrad (lost the gradient of windows of negative values);
 * - replaced because wasm's is slow: Conv2DBackpropInput (conv2d's input gradient and
 *   conv2dTranspose), a plain C++ loop, now an XNNPACK convolution (about 7x faster at stride 1;
 *   strided gradients on small maps or with few input channels, one matrix product);
 *   BatchMatMul, whose batched or transposed products (attention's q k^T and attn v, every
 *   transpose-flag gradient) ran a scalar loop at 1-2.5 GFLOP/s: every float32 product now runs
 *   our WebAssembly SIMD product kernel on the heap (with relaxed SIMD's fused multiply-add where
 *   the engine has it: about twice XNNPACK's rate on one thread), or XNNPACK per batch when the
 *   backend has more than two threads;
 *   _FusedMatMul (tf.fused.matMul, which Linear's forward pass uses) with a bias of [N] and no
 *   activation, on the same kernel, which adds the bias as it stores the sum;
 *   Slice and SplitV, which read their whole input back into JS once per piece, now copy
 *   straight from the heap (a qkv split of [32, 49, 576] in three: about 8x faster at the median).
 *   Our BatchMatMul also handles batch dimensions that broadcast on both sides ([2, 1] against
 *   [1, 3]), where tfjs 4.22's cpu and wasm kernels return too few values; Reverse (RoPE's pair
 *   swap in LightningDiT), whose C++ loop took ~25 ms for a [16, 3, 64, 32, 2] swap, now a
 *   JavaScript heap copy (~1 ms; 590 -> 8 ms of Reverse per DiT training step); Concat, which made
 *   a view per run, now moves runs inside the heap; Identity, which copied, now shares the buffer;
 * - our own, one WebAssembly SIMD pass each where tensor ops would run a chain of kernels, registered
 *   only where the SIMD module runs: LdmaeAdamW, LdmaeGelu, LdmaeGeluGrad, LdmaeSumRows, LdmaeNorm and
 *   LdmaeNormGrad (LayerNorm / RMSNorm with their scale and shift, forward and backward), LdmaeSwiGLU
 *   and LdmaeSwiGLUGrad (the SwiGLU gate silu(a) * b), LdmaeRope (the rotary embedding, both ways),
 *   LdmaeSplitHeads and LdmaeMergeHeads (attention's heads out of and back into the fused layout).
 */
export const WASM_KERNELS: readonly string[] = Object.freeze(ENTRIES.map((e) => e.name));

function isOurs(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[OURS] === true;
}

/**
 * Whether the active backend multiplies transposed operands as fast as plain ones: the wasm backend
 * with our BatchMatMul, which turns the transpose flags into strides (or, on the XNNPACK route,
 * transposes them itself). Callers then pass flags instead of transposing first.
 */
export function productsTakeTransposeFlags(): boolean {
  return tf.getBackend() === 'wasm' && isOurs(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc);
}

/**
 * Register our kernels for `backendName` if it needs them: 'wasm' ({@link WASM_KERNELS}) and
 * 'webgpu' ({@link WEBGPU_KERNELS}); any other name is a no-op. Safe to call any number of times: a kernel already registered by us is left alone, a
 * missing kernel that a later tfjs provides natively is not overridden.
 *
 * Note for users of `tf.gather(x, indices, axis, batchDims)` on wasm without calling this (or
 * `setupBackend`): whenever batchDims > 0, tfjs-backend-wasm 4.22 silently returns wrong values for
 * every batch after the first (measured: 1792 of 2048 outputs wrong for x [8, 64, 16], indices
 * [8, 16]) and has been seen to fail with "memory access out of bounds". After registration the
 * result matches cpu. Setting the backend with `tf.setBackend('wasm')` alone does not register.
 *
 * @param backendName tfjs backend name, as `tf.getBackend()` reports it.
 * @returns The kernel names registered by this call (empty when nothing was needed).
 */
export function registerMissingKernels(backendName: string): string[] {
  if (backendName === 'webgpu') return registerWebGPUKernels();
  if (backendName !== 'wasm') return [];
  const added: string[] = [];
  for (const entry of ENTRIES) {
    const existing = tf.getKernel(entry.name, 'wasm');
    if (existing && (entry.mode === 'missing' || isOurs(existing.kernelFunc))) continue;
    if (entry.available && !entry.available(tf.findBackend('wasm'))) continue;
    const kernelFunc = entry.make(existing?.kernelFunc as KernelFunc | undefined);
    Object.defineProperty(kernelFunc, OURS, { value: true });
    if (existing) tf.unregisterKernel(entry.name, 'wasm');
    tf.registerKernel({
      kernelName: entry.name,
      backendName: 'wasm',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      // The native setup (a cwrap of the C++ function) must still run if the backend is re-created.
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
    added.push(entry.name);
  }
  return added;
}

/**
 * Names of the kernels `registerMissingKernels('webgpu')` replaces for tfjs-backend-webgpu 4.22:
 * AddN, whose single program binds every input as a storage buffer and fails validation (a silently
 * wrong result) past the device's `maxStorageBuffersPerShaderStage`; ours sums in chunks that fit.
 */
export const WEBGPU_KERNELS: readonly string[] = Object.freeze(['AddN']);

function registerWebGPUKernels(): string[] {
  const existing = tf.getKernel('AddN', 'webgpu');
  if (!existing || isOurs(existing.kernelFunc)) return [];
  const kernelFunc = addNChunked(existing.kernelFunc as unknown as Parameters<typeof addNChunked>[0]);
  Object.defineProperty(kernelFunc, OURS, { value: true });
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({
    kernelName: 'AddN',
    backendName: 'webgpu',
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    setupFunc: existing.setupFunc,
    disposeFunc: existing.disposeFunc,
  });
  return ['AddN'];
}
