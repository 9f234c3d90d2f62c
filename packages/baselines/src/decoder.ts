/** diffusers' VAE `Decoder` (with `UpDecoderBlock2D` levels and group norms). */
import { type Conv2d, type GroupNorm, Module, ModuleList, silu } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKLConfig } from './config.js';
import { UNetMidBlock2D } from './mid-block.js';
import { Upsample2D } from './resample.js';
import { type VaeBlockOptions, VaeLevel, vaeConv3x3, vaeGroupNorm } from './resnet-block.js';

/** The decoder's output and the input of its last conv (for taming's adaptive GAN weight). */
export interface DecoderFeatures {
  /** [B, H, W, outChannels]. */
  output: tf.Tensor4D;
  /** silu(conv_norm_out(h)): what `conv_out` convolves, [B, H, W, blockOutChannels[0]]. */
  preOut: tf.Tensor4D;
}

/**
 * Latents to images: `conv_in` (3x3) to the last level's width, `mid_block`, the `up_blocks` (widths
 * reversed, layersPerBlock + 1 resnets each), `conv_norm_out` + SiLU, `conv_out` (3x3).
 */
export class Decoder extends Module {
  readonly config: AutoencoderKLConfig;
  readonly convIn: Conv2d;
  readonly midBlock: UNetMidBlock2D;
  readonly upBlocks: ModuleList<VaeLevel>;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(config: AutoencoderKLConfig, opts: VaeBlockOptions) {
    super();
    this.config = config;
    const b = config.blockOutChannels;
    const rev = [...b].reverse();
    this.convIn = this.registerModule('conv_in', vaeConv3x3(config.latentChannels, rev[0], opts));
    this.midBlock = this.registerModule(
      'mid_block',
      new UNetMidBlock2D(rev[0], config.midBlockAddAttention, opts),
    );
    const levels = rev.map((ch, i) => {
      const resampler = i < rev.length - 1 ? (['upsamplers', Upsample2D] as const) : null;
      return new VaeLevel(rev[Math.max(0, i - 1)], ch, config.layersPerBlock + 1, resampler, opts);
    });
    this.upBlocks = this.registerModule('up_blocks', new ModuleList(levels));
    this.convNormOut = this.registerModule('conv_norm_out', vaeGroupNorm(b[0], opts));
    this.convOut = this.registerModule('conv_out', vaeConv3x3(b[0], config.outChannels, opts));
  }

  /** z [B, h, w, latentChannels] -> images [B, h*f, w*f, outChannels]. */
  forward(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.convOut.forward(this.features(z)));
  }

  /** {@link forward} that also returns the input of `conv_out`. The caller owns both tensors. */
  forwardWithFeatures(z: tf.Tensor4D): DecoderFeatures {
    return tf.tidy(() => {
      const preOut = this.features(z);
      return { output: this.convOut.forward(preOut), preOut };
    });
  }

  private features(z: tf.Tensor4D): tf.Tensor4D {
    let h = this.convIn.forward(z);
    h = this.midBlock.forward(h);
    for (const level of this.upBlocks) h = level.forward(h);
    return silu(this.convNormOut.forward(h)) as tf.Tensor4D;
  }
}
