/** diffusers' `Downsample2D` and `Upsample2D` as the VAE uses them (both with a conv named `conv`). */
import { Conv2d, Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { type VaeBlockOptions, vaeConv3x3 } from './resnet-block.js';

/** What both resamplers share: the child `conv` and the check of their NHWC input. */
abstract class Resample2D extends Module {
  readonly conv: Conv2d;

  constructor(
    readonly channels: number,
    private readonly label: string,
    conv: Conv2d,
  ) {
    super();
    this.conv = this.registerModule('conv', conv);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.channels) {
      throw new Error(
        `${this.label}.forward: x must be [B, H, W, ${this.channels}] (NHWC), got [${x.shape}]`,
      );
    }
    return tf.tidy(() => this.resample(x));
  }

  protected abstract resample(x: tf.Tensor4D): tf.Tensor4D;
}

/**
 * Halves H and W: one zero row at the bottom and one zero column at the right (diffusers pads
 * (0, 1, 0, 1) when `padding=0`), then a 3x3 conv with stride 2 and no padding. Child `conv`.
 * x [B, H, W, C] -> [B, floor(H/2), floor(W/2), C] (exactly H/2 x W/2 for even sizes).
 */
export class Downsample2D extends Resample2D {
  constructor(channels: number, opts: VaeBlockOptions) {
    const init = opts.init ?? 'torch';
    super(
      channels,
      'Downsample2D',
      new Conv2d(channels, channels, 3, { rng: opts.rng, stride: 2, padding: 0, init }),
    );
  }

  protected resample(x: tf.Tensor4D): tf.Tensor4D {
    return this.conv.forward(
      tf.pad(x, [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ]),
    );
  }
}

/**
 * Nearest-neighbour upsampling by 2 (torch's `F.interpolate(scale_factor=2.0, mode='nearest')`):
 * x [B, H, W, C] -> [B, 2H, 2W, C]. Built from concatenations and reshapes, which every backend
 * differentiates (wasm has no ResizeNearestNeighborGrad).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`upsampleNearest2x: x must be [B, H, W, C], got [${x.shape}]`);
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => {
    // [x, x] along channels, read as [B, H, 2W, C], repeats every column; the same along W repeats rows.
    const cols = tf.reshape(tf.concat([x, x], 3), [b, h, 2 * w, c]);
    return tf.reshape(tf.concat([cols, cols], 2), [b, 2 * h, 2 * w, c]);
  });
}

/**
 * Doubles H and W: nearest-neighbour upsampling, then a 3x3 conv with padding 1. Child `conv`.
 * x [B, H, W, C] -> [B, 2H, 2W, C].
 */
export class Upsample2D extends Resample2D {
  constructor(channels: number, opts: VaeBlockOptions) {
    super(channels, 'Upsample2D', vaeConv3x3(channels, channels, opts));
  }

  protected resample(x: tf.Tensor4D): tf.Tensor4D {
    return this.conv.forward(upsampleNearest2x(x));
  }
}
