/**
 * AddN for tfjs-backend-webgpu without its binding limit. tfjs 4.22's WebGPU AddN binds every input
 * as its own storage buffer; past the device's `maxStorageBuffersPerShaderStage` (8 in WebGPU's
 * default limits and on Dawn's OpenGL ES backend) the pipeline fails validation and the result is
 * silently garbage. `tf.addN` over a model's gradients (global-norm clipping) has dozens of inputs.
 * This wrapper sums in chunks that fit, through the native kernel.
 */
import type * as tf from '@tensorflow/tfjs-core';

type KernelFunc = (args: { inputs: unknown; backend: unknown; attrs?: unknown }) => tf.TensorInfo;

interface WebGPUBackendLike {
  device?: { limits?: { maxStorageBuffersPerShaderStage?: number } };
  disposeData(dataId: object): void;
}

/** Inputs one AddN program may take on `backend`: one storage binding is the output. */
export function addNMaxInputs(backend: unknown): number {
  const limit = (backend as WebGPUBackendLike).device?.limits?.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(2, limit - 1);
}

/** Wrap the native WebGPU AddN so any number of inputs works. */
export function addNChunked(native: KernelFunc): KernelFunc {
  return (args) => {
    const all = args.inputs as tf.TensorInfo[];
    const max = addNMaxInputs(args.backend);
    if (all.length <= max) return native(args);
    const backend = args.backend as WebGPUBackendLike;
    const partials: tf.TensorInfo[] = [];
    let level = all;
    try {
      while (level.length > max) {
        const next: tf.TensorInfo[] = [];
        for (let i = 0; i < level.length; i += max) {
          const chunk = level.slice(i, i + max);
          if (chunk.length === 1) {
            next.push(chunk[0]);
            continue;
          }
          const sum = native({ ...args, inputs: chunk });
          partials.push(sum);
          next.push(sum);
        }
        level = next;
      }
      return native({ ...args, inputs: level });
    } finally {
      for (const p of partials) backend.disposeData(p.dataId);
    }
  };
}
