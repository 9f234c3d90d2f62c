/** diffusers' VAE `Encoder` (with `DownEncoderBlock2D` levels and `double_z=True`). */
import { type Conv2d, type GroupNorm, Module, ModuleList, silu } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKLConfig } from './config.js';
import { UNetMidBlock2D } from './mid-block.js';
import { Downsample2D } from './resample.js';
import { type VaeBlockOptions, VaeLevel, vaeConv3x3, vaeGroupNorm } from './resnet-block.js';

/**
 * Images to moments: `conv_in` (3x3), the `down_blocks`, `mid_block`, `conv_norm_out` + SiLU,
 * `conv_out` (3x3) to 2 * latentChannels channels (mean, then logvar).
 */
export class Encoder extends Module {
  readonly config: AutoencoderKLConfig;
  readonly convIn: Conv2d;
  readonly downBlocks: ModuleList<VaeLevel>;
  readonly midBlock: UNetMidBlock2D;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(config: AutoencoderKLConfig, opts: VaeBlockOptions) {
    super();
    this.config = config;
    const b = config.blockOutChannels;
    const last = b[b.length - 1];
    this.convIn = this.registerModule('conv_in', vaeConv3x3(config.inChannels, b[0], opts));
    const levels = b.map((ch, i) => {
      const resampler = i < b.length - 1 ? (['downsamplers', Downsample2D] as const) : null;
      return new VaeLevel(b[Math.max(0, i - 1)], ch, config.layersPerBlock, resampler, opts);
    });
    this.downBlocks = this.registerModule('down_blocks', new ModuleList(levels));
    this.midBlock = this.registerModule(
      'mid_block',
      new UNetMidBlock2D(last, config.midBlockAddAttention, opts),
    );
    this.convNormOut = this.registerModule('conv_norm_out', vaeGroupNorm(last, opts));
    this.convOut = this.registerModule('conv_out', vaeConv3x3(last, 2 * config.latentChannels, opts));
  }

  /** x [B, H, W, inChannels] -> moments [B, H/f, W/f, 2 * latentChannels]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.convIn.forward(x);
      for (const level of this.downBlocks) h = level.forward(h);
      h = this.midBlock.forward(h);
      return this.convOut.forward(silu(this.convNormOut.forward(h)));
    });
  }
}
