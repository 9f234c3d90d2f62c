/**
 * Einsum for the wasm backend: the cpu backend's algorithm (transpose each operand to the shared
 * dimension order, multiply with broadcasting, sum contracted axes as soon as they are done) run on
 * the wasm Transpose / Reshape / Multiply / Sum kernels. Forward only: tfjs has no Einsum gradient on
 * any backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, withScope } from './wasm-backend.js';

/**
 * Kernel function for 'Einsum' on wasm.
 *
 * Inputs: the operands as the array tf.einsum passes (one or two tensors). Attribute: `equation`
 * (for example 'bhqd,bhkd->bhqk'). Returns the result in float32 with the output subscripts' shape.
 */
export function einsumWasm({ inputs, backend, attrs = {} }: KernelArgs): tf.TensorInfo {
  const equation = attrs.equation as string;
  const tensors = Object.values(inputs).filter((t): t is tf.TensorInfo => t !== undefined);
  if (typeof equation !== 'string')
    throw new Error(`Einsum (wasm): equation must be a string, got ${equation}`);
  const bu = tf.backend_util;
  const { allDims, summedDims, idDims } = bu.decodeEinsumEquation(equation, tensors.length);
  bu.checkEinsumDimSizes(allDims.length, idDims, tensors as unknown as tf.Tensor[]);
  const { path, steps } = bu.getEinsumComputePath(summedDims, idDims);

  return withScope(backend, (s) => {
    let out: tf.TensorInfo | null = null;
    let remaining = allDims.length;
    for (let i = 0; i < steps.length; i++) {
      for (const term of steps[i]) {
        const { permutationIndices: perm, expandDims } = bu.getEinsumPermutation(remaining, idDims[term]);
        let x = tensors[term];
        if (!bu.isIdentityPermutation(perm)) x = s.run('Transpose', { x }, { perm });
        const target = x.shape.slice();
        for (const d of expandDims) target.splice(d, 0, 1);
        if (!tf.util.arraysEqual(x.shape, target)) x = s.reshape(x, target);
        out = out === null ? x : s.run('Multiply', { a: x, b: out });
      }
      if (i < steps.length - 1) {
        if (path[i] >= 0 && out !== null) {
          out = s.run('Sum', { x: out }, { axis: path[i] - (allDims.length - remaining), keepDims: false });
        }
        remaining--;
      }
    }
    if (out === null) throw new Error(`Einsum (wasm): equation '${equation}' has no operands`);
    return out;
  });
}
