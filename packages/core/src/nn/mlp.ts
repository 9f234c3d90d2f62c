/** The two-layer feed-forward network of a transformer block (timm's Mlp). */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../rng.js';
import { type ActivationName, activation } from './activations.js';
import { Linear, type LinearInit } from './linear.js';
import { Module } from './module.js';

/** Options of {@link Mlp}. */
export interface MlpOptions {
  rng: Rng;
  /** Default 'gelu' (exact erf form, timm / MAE); DiT and LightningDiT use 'gelu_tanh'. */
  act?: ActivationName;
  /** Output features. Default `dim`. */
  outDim?: number;
  /** Biases on fc1 and fc2. Default true. */
  bias?: boolean;
  /** Weight initialisation of fc1 and fc2. Default 'xavier_uniform'. */
  init?: LinearInit;
}

/** fc2(act(fc1(x))): x [..., dim] -> [..., outDim] through `hidden` features. */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(dim: number, hidden: number, opts: MlpOptions) {
    super();
    if (!opts?.rng) throw new TypeError('Mlp: opts.rng (an Rng from createRng) is required');
    this.act = activation(opts.act ?? 'gelu');
    const lin = { rng: opts.rng, bias: opts.bias, init: opts.init };
    this.fc1 = this.registerModule('fc1', new Linear(dim, hidden, lin));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, opts.outDim ?? dim, lin));
  }

  /** x [..., dim] -> [..., outDim]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(this.act(this.fc1.forward(x))));
  }
}
