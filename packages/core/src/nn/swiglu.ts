/** The gated feed-forward network of LightningDiT (SwiGLUFFN). */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { silu } from './activations.js';
import { Linear, type LinearInit } from './linear.js';
import { Module } from './module.js';

/**
 * The hidden width LightningDiT gives its SwiGLU for a block of width `dim`:
 * int(2/3 * int(dim * mlpRatio)), in the same float64 arithmetic as the Python reference.
 */
export function swigluHidden(dim: number, mlpRatio = 4): number {
  return Math.trunc((2 / 3) * Math.trunc(dim * mlpRatio));
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
    return tf.tidy(() => {
      const x12 = this.w12.forward(x);
      const [a, b] = tf.split(x12, 2, -1);
      return this.w3.forward(tf.mul(silu(a), b));
    });
  }
}
