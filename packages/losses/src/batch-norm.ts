/** BatchNorm2d on NHWC feature maps, as torch.nn.BatchNorm2d (running statistics, momentum 0.1). */
import { Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** Options of {@link BatchNorm2d}. */
export interface BatchNorm2dOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Weight of the new batch statistic in the running average; default 0.1. */
  momentum?: number;
}

/**
 * torch.nn.BatchNorm2d(C) for x [B, H, W, C]. In training mode it normalises with the batch's
 * mean and biased variance over (B, H, W) and updates `running_mean` / `running_var` (the latter with
 * the unbiased variance) and `num_batches_tracked`; in eval mode it uses the running statistics.
 * State-dict names and shapes are torch's: `weight`, `bias`, `running_mean`, `running_var` [C] and
 * `num_batches_tracked` [] (int64 in torch, int32 here).
 */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(numFeatures: number, opts: BatchNorm2dOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new RangeError(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new RangeError(`BatchNorm2d: eps must be > 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1))
      throw new RangeError(`BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    const c = numFeatures;
    this.weight = this.registerParameter('weight', tf.ones([c]), { decay: false });
    this.bias = this.registerParameter('bias', tf.zeros([c]), { decay: false });
    // Running statistics are non-trainable variables so that they update in place (assign) even inside
    // a gradient computation, and load / save with the state dict.
    this.runningMean = this.registerParameter('running_mean', tf.zeros([c]), {
      trainable: false,
      decay: false,
    });
    this.runningVar = this.registerParameter('running_var', tf.ones([c]), { trainable: false, decay: false });
    this.numBatchesTracked = this.registerParameter('num_batches_tracked', tf.scalar(0, 'int32'), {
      trainable: false,
      decay: false,
    });
  }

  /** x [B, H, W, C] -> the same shape. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.numFeatures) {
      throw new Error(`BatchNorm2d.forward: x must be [B, H, W, ${this.numFeatures}], got [${x.shape}]`);
    }
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    if (this.training && n < 2) {
      throw new Error(
        `BatchNorm2d.forward: training mode needs more than one value per channel, got x [${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (this.training) {
        const m = tf.moments(x, [0, 1, 2]);
        mean = m.mean;
        variance = m.variance;
        const k = this.momentum;
        tf.tidy(() => {
          // These ops do not feed the output, so no gradient flows through the running statistics.
          const bv = tf.mul(variance, n / (n - 1));
          this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - k), tf.mul(mean, k)));
          this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - k), tf.mul(bv, k)));
          this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
        });
      } else {
        mean = this.runningMean;
        variance = this.runningVar;
      }
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(tf.sub(x, mean), scale), this.bias) as tf.Tensor4D;
    });
  }
}
