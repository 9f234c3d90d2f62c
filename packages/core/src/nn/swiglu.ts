/** The gated feed-forward network of LightningDiT (SwiGLUFFN). */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel } from '../backend/kernels/fused.js';
import { SWIGLU, SWIGLU_GRAD } from '../backend/kernels/fused-transformer.js';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { silu } from './activations.js';
import { customGrad1 } from './custom-grad.js';
import { Linear, type LinearInit } from './linear.js';
import { Module } from './module.js';

/**
 * The hidden width LightningDiT gives its SwiGLU for a block of width `dim`:
 * int(2/3 * int(dim * mlpRatio)), in the same float64 arithmetic as the Python reference.
 */
export function swigluHidden(dim: number, mlpRatio = 4): number {
  return Math.trunc((2 / 3) * Math.trunc(dim * mlpRatio));
}

// One pass over the wasm heap each way, where the tensor ops split, take the sigmoid and multiply
// (and concatenate the two halves' gradients).
const gateKernel = customGrad1((x12: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x12]);
  return {
    value: tf.engine().runKernel(SWIGLU, { x: x12 }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) => [
      tf.engine().runKernel(SWIGLU_GRAD, { x: sx, dy }) as tf.Tensor,
    ],
  };
});

/**
 * silu(a) * b for x12 [..., 2h] = [a, b] split in halves along the last axis (a first) -> [..., h]: the
 * gate of {@link SwiGLU}.
 */
export function swigluGate(x12: tf.Tensor): tf.Tensor {
  const last = x12.shape[x12.rank - 1];
  if (x12.rank < 1 || last % 2 !== 0) {
    throw new Error(`swigluGate: x12 must have an even last dimension, got [${x12.shape}]`);
  }
  if (x12.dtype === 'float32' && hasKernel(SWIGLU) && hasKernel(SWIGLU_GRAD)) return gateKernel(x12);
  return tf.tidy(() => {
    const [a, b] = tf.split(x12, 2, -1);
    return tf.mul(silu(a), b);
  });
}

/** Options of {@link SwiGLU}. */
export interface SwiGLUOptions {
  rng: Rng;
  /** Output features. Default `dim`. */
  outDim?: number;
  /** Biases on w12 and w3. Default true. */
  bias?: boolean;
  /** Weight initialisation of w12 and w3. Default 'xavier_uniform'. */
  init?: LinearInit;
}

/**
 * w3(silu(a) * b) where [a, b] = w12(x) split in halves along the features (a first), as
 * LightningDiT's SwiGLUFFN. `hidden` is used as given; see {@link swigluHidden} for the reference's
 * choice.
 */
export class SwiGLU extends Module {
  readonly hidden: number;
  readonly w12: Linear;
  readonly w3: Linear;

  constructor(dim: number, hidden: number, opts: SwiGLUOptions) {
    super();
    if (!opts?.rng) throw new TypeError('SwiGLU: opts.rng (an Rng from createRng) is required');
    checkNumber(hidden, 'SwiGLU: hidden', 'a positive integer');
    this.hidden = hidden;
    const lin = { rng: opts.rng, bias: opts.bias, init: opts.init };
    this.w12 = this.registerModule('w12', new Linear(dim, 2 * hidden, lin));
    this.w3 = this.registerModule('w3', new Linear(hidden, opts.outDim ?? dim, lin));
  }

  /** x [..., dim] -> [..., outDim]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.w3.forward(swigluGate(this.w12.forward(x))));
  }
}
