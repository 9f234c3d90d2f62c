/** Root-mean-square normalisation over the last axis, as LightningDiT's / LLaMA's RMSNorm. */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import { Module } from './module.js';
import { normalizeLastAxis } from './normalize.js';

/** Options of {@link RMSNorm}. */
export interface RMSNormOptions {
  /** Added to mean(x^2). Default 1e-6 (LightningDiT). */
  eps?: number;
}

/** y = x / sqrt(mean(x^2) + eps) * weight over the last axis; `weight` starts at 1. */
export class RMSNorm extends Module {
  readonly dim: number;
  readonly eps: number;
  /** [dim]. */
  readonly weight: tf.Variable;

  constructor(dim: number, opts: RMSNormOptions = {}) {
    super();
    checkNumber(dim, 'RMSNorm: dim', 'a positive integer');
    const eps = opts.eps ?? 1e-6;
    if (!(eps >= 0)) throw new RangeError(`RMSNorm: eps must be >= 0, got ${eps}`);
    this.dim = dim;
    this.eps = eps;
    this.weight = this.registerParameter('weight', tf.ones([dim]), { decay: false });
  }

  /** x [..., dim] -> [..., dim]. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.dim) {
      throw new Error(`RMSNorm.forward: x must have shape [..., ${this.dim}], got [${x.shape}]`);
    }
    return tf.tidy(() => normalizeLastAxis(x, this.weight, null, this.eps, true));
  }
}
