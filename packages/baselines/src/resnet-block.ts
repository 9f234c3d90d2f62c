/**
 * diffusers' `ResnetBlock2D` as the VAE uses it (no time embedding, no dropout, output scale 1), the
 * encoder's and decoder's levels built from it, and the convs and norms every VAE block shares.
 */
import { Conv2d, GroupNorm, Module, ModuleList, type Rng, silu } from '@ldmae/core';
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

/** A 3x3 conv with padding 1 (every 3x3 conv of the VAE but the downsampler's). */
export const vaeConv3x3 = (inChannels: number, outChannels: number, opts: VaeBlockOptions): Conv2d =>
  new Conv2d(inChannels, outChannels, 3, { rng: opts.rng, padding: 1, init: opts.init ?? 'torch' });

/** A GroupNorm over `channels` with the VAE's groups and eps. */
export const vaeGroupNorm = (channels: number, opts: Pick<VaeBlockOptions, 'groups'>): GroupNorm =>
  new GroupNorm(opts.groups, channels, { eps: VAE_NORM_EPS });

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
    this.norm1 = this.registerModule('norm1', vaeGroupNorm(inChannels, opts));
    this.conv1 = this.registerModule('conv1', vaeConv3x3(inChannels, outChannels, opts));
    this.norm2 = this.registerModule('norm2', vaeGroupNorm(outChannels, opts));
    this.conv2 = this.registerModule('conv2', vaeConv3x3(outChannels, outChannels, opts));
    const shortcut = { rng: opts.rng, init: opts.init ?? 'torch' };
    this.convShortcut =
      inChannels !== outChannels
        ? this.registerModule('conv_shortcut', new Conv2d(inChannels, outChannels, 1, shortcut))
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

/** A level's 2x resampler: `Downsample2D` or `Upsample2D`. */
type Resampler = Module & { forward(x: tf.Tensor4D): tf.Tensor4D };

/** A level's resampler class and the name diffusers registers it under. */
export type VaeResampler = readonly [
  'downsamplers' | 'upsamplers',
  new (channels: number, opts: VaeBlockOptions) => Resampler,
];

/**
 * One encoder or decoder level (diffusers' `DownEncoderBlock2D` / `UpDecoderBlock2D`):
 * `resnets.{0..layers-1}` (the first changes the width) and, when `resampler` is given (every level
 * but the last), `downsamplers.0` or `upsamplers.0`, built after the resnets.
 */
export class VaeLevel extends Module {
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly resamplers: ModuleList<Resampler> | null;

  constructor(
    inChannels: number,
    outChannels: number,
    layers: number,
    resampler: VaeResampler | null,
    opts: VaeBlockOptions,
  ) {
    super();
    const blocks: ResnetBlock2D[] = [];
    for (let j = 0; j < layers; j++)
      blocks.push(new ResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, opts));
    this.resnets = this.registerModule('resnets', new ModuleList(blocks));
    this.resamplers = resampler
      ? this.registerModule(resampler[0], new ModuleList([new resampler[1](outChannels, opts)]))
      : null;
  }

  /** x [B, H, W, in] -> [B, H', W', out]: H/2 (down), 2H (up), or H on the last level. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const r of this.resnets) h = r.forward(h);
      return this.resamplers ? this.resamplers.at(0).forward(h) : h;
    });
  }
}
