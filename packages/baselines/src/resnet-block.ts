/** diffusers' `ResnetBlock2D` as the VAE uses it: no time embedding, no dropout, output scale 1. */
import { Conv2d, GroupNorm, Module, type Rng, silu } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** Weight initialisation of the AutoencoderKL's layers. */
export type VaeInit = 'torch' | 'zeros';

/** What every block of the AutoencoderKL is built with. */
export interface VaeBlockOptions {
  rng: Rng;
  /** GroupNorm groups (diffusers `norm_num_groups`). */
  groups: number;
  /**
   * 'torch' (default): PyTorch's nn.Conv2d / nn.Linear default, U(+-1/sqrt(fan_in)) for weights and
   * biases, which is what a freshly built diffusers AutoencoderKL holds. 'zeros': all-zero weights,
   * for building a model only to load weights into (or to count parameters) without drawing numbers.
   */
  init?: VaeInit;
}

/** GroupNorm eps of every norm in diffusers' AutoencoderKL (`resnet_eps`). */
export const VAE_NORM_EPS = 1e-6;

/**
 * x -> shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). Children `norm1`, `conv1`, `norm2`,
 * `conv2` (3x3, padding 1) and, when the channel count changes, `conv_shortcut` (1x1).
 */
export class ResnetBlock2D extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly convShortcut: Conv2d | null;

  constructor(inChannels: number, outChannels: number, opts: VaeBlockOptions) {
    super();
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    const { rng, groups } = opts;
    const init = opts.init ?? 'torch';
    this.norm1 = this.registerModule('norm1', new GroupNorm(groups, inChannels, { eps: VAE_NORM_EPS }));
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inChannels, outChannels, 3, { rng, padding: 1, init }),
    );
    this.norm2 = this.registerModule('norm2', new GroupNorm(groups, outChannels, { eps: VAE_NORM_EPS }));
    this.conv2 = this.registerModule(
      'conv2',
      new Conv2d(outChannels, outChannels, 3, { rng, padding: 1, init }),
    );
    this.convShortcut =
      inChannels !== outChannels
        ? this.registerModule('conv_shortcut', new Conv2d(inChannels, outChannels, 1, { rng, init }))
        : null;
  }

  /** x [B, H, W, in] -> [B, H, W, out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `ResnetBlock2D.forward: x must be [B, H, W, ${this.inChannels}] (NHWC), got [${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      let h: tf.Tensor4D = this.conv1.forward(silu(this.norm1.forward(x)));
      h = this.conv2.forward(silu(this.norm2.forward(h)));
      const skip = this.convShortcut ? this.convShortcut.forward(x) : x;
      return tf.add(skip, h);
    });
  }
}
