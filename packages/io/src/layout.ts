/**
 * PyTorch's weight layouts and the ones tfjs computes with: a Linear weight is [out, in] in PyTorch and
 * [in, out] for tfjs' matMul, a conv kernel [out, in, kh, kw] in PyTorch and [kh, kw, in, out] for
 * tfjs' conv2d. State dicts and files always use PyTorch's layout, so reference checkpoints map by name.
 */
import * as tf from '@tensorflow/tfjs-core';

/** How a parameter's internal layout relates to PyTorch's. */
export type ParamLayout = 'same' | 'linear' | 'conv2d';

/** Axis permutations from the internal layout to PyTorch's and back ('same' has none). */
export const TO_TORCH = { linear: [1, 0], conv2d: [3, 2, 0, 1] } as const;
export const FROM_TORCH = { linear: [1, 0], conv2d: [2, 3, 1, 0] } as const;

/** Convert an internal-layout tensor to PyTorch layout (new tensor). */
export function toTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  return layout === 'same' ? t.clone() : tf.transpose(t, [...TO_TORCH[layout]]);
}

/** Convert a PyTorch-layout tensor to the internal layout (new tensor). */
export function fromTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  return layout === 'same' ? t.clone() : tf.transpose(t, [...FROM_TORCH[layout]]);
}

/** The PyTorch-layout shape of an internal-layout shape. */
export function torchShape(shape: number[], layout: ParamLayout): number[] {
  return layout === 'same' ? shape.slice() : TO_TORCH[layout].map((axis) => shape[axis]);
}
