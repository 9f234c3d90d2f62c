/** Layer normalisation over the last axis, as torch.nn.LayerNorm(dim). */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import { Module } from './module.js';
import { normalizeLastAxis, standardize } from './normalize.js';

/** Options of {@link LayerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance. Default 1e-5 (PyTorch); MAE / timm ViT blocks and DiT use 1e-6. */
  eps?: number;
  /** Learn a per-feature scale `weight` (init 1) and shift `bias` (init 0). Default true. */
  affine?: boolean;
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance). */
export class LayerNorm extends Module {
  readonly dim: number;
  readonly eps: number;
  /** [dim] or null when not affine. */
  readonly weight: tf.Variable | null;
  /** [dim] or null when not affine. */
  readonly bias: tf.Variable | null;

  constructor(dim: number, opts: LayerNormOptions = {}) {
    super();
    checkNumber(dim, 'LayerNorm: dim', 'a positive integer');
    const eps = opts.eps ?? 1e-5;
    if (!(eps >= 0)) throw new RangeError(`LayerNorm: eps must be >= 0, got ${eps}`);
    this.dim = dim;
    this.eps = eps;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', tf.ones([dim]), { decay: false }) : null;
    this.bias = affine ? this.registerParameter('bias', tf.zeros([dim]), { decay: false }) : null;
  }

  /** x [..., dim] -> [..., dim]. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.dim) {
      throw new Error(`LayerNorm.forward: x must have shape [..., ${this.dim}], got [${x.shape}]`);
    }
    return tf.tidy(() =>
      this.weight
        ? normalizeLastAxis(x, this.weight, this.bias, this.eps, false)
        : standardize(x, [x.rank - 1], this.eps),
    );
  }
}
