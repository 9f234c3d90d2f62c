/** Group normalisation of NHWC feature maps, as torch.nn.GroupNorm on NCHW. */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import { Module } from './module.js';
import { scaleShift, standardize } from './normalize.js';

/** Options of {@link GroupNorm}. */
export interface GroupNormOptions {
  /** Added to the variance. Default 1e-6 (diffusers' AutoencoderKL / LDM); PyTorch's default is 1e-5. */
  eps?: number;
  /** Learn a per-channel `weight` (init 1) and `bias` (init 0). Default true. */
  affine?: boolean;
}

/**
 * Splits the channels into `groups` contiguous groups (channel c is in group floor(c / (C / groups)),
 * as PyTorch) and standardises each group over height, width and its channels.
 */
export class GroupNorm extends Module {
  readonly groups: number;
  readonly channels: number;
  readonly eps: number;
  /** [channels] or null when not affine. */
  readonly weight: tf.Variable | null;
  /** [channels] or null when not affine. */
  readonly bias: tf.Variable | null;

  constructor(groups: number, channels: number, opts: GroupNormOptions = {}) {
    super();
    checkNumber(groups, 'GroupNorm: groups', 'a positive integer');
    if (!Number.isInteger(channels) || channels < 1 || channels % groups !== 0) {
      throw new RangeError(
        `GroupNorm: channels must be a positive multiple of groups (${groups}), got ${channels}`,
      );
    }
    const eps = opts.eps ?? 1e-6;
    if (!(eps >= 0)) throw new RangeError(`GroupNorm: eps must be >= 0, got ${eps}`);
    this.groups = groups;
    this.channels = channels;
    this.eps = eps;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', tf.ones([channels]), { decay: false }) : null;
    this.bias = affine ? this.registerParameter('bias', tf.zeros([channels]), { decay: false }) : null;
  }

  /** x [B, H, W, C] -> [B, H, W, C]. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.channels) {
      throw new Error(
        `GroupNorm.forward: x must have shape [B, H, W, ${this.channels}] (NHWC), got [${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const g = this.groups;
      const grouped = tf.reshape(x, [b, h * w, g, c / g]);
      const y = tf.reshape(standardize(grouped, [1, 3], this.eps), [b, h, w, c]);
      return this.weight ? scaleShift(y, this.weight, this.bias) : y;
    });
  }
}
