/** diffusers' VAE `Encoder` (with `DownEncoderBlock2D` levels and `double_z=True`). */
import { Conv2d, GroupNorm, Module, ModuleList, silu } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKLConfig } from './config.js';
import { UNetMidBlock2D } from './mid-block.js';
import { Downsample2D } from './resample.js';
import { ResnetBlock2D, VAE_NORM_EPS, type VaeBlockOptions } from './resnet-block.js';

/**
 * One encoder level: `resnets.{0..layers-1}` (the first changes the width) and, except on the last
 * level, `downsamplers.0`.
 */
export class DownEncoderBlock2D extends Module {
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly downsamplers: ModuleList<Downsample2D> | null;

  constructor(
    inChannels: number,
    outChannels: number,
    layers: number,
    addDownsample: boolean,
    opts: VaeBlockOptions,
  ) {
    super();
    const blocks: ResnetBlock2D[] = [];
    for (let j = 0; j < layers; j++)
      blocks.push(new ResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, opts));
    this.resnets = this.registerModule('resnets', new ModuleList(blocks));
    this.downsamplers = addDownsample
      ? this.registerModule('downsamplers', new ModuleList([new Downsample2D(outChannels, opts)]))
      : null;
  }

  /** x [B, H, W, in] -> [B, H/2, W/2, out] (or [B, H, W, out] on the last level). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const r of this.resnets) h = r.forward(h);
      return this.downsamplers ? this.downsamplers.at(0).forward(h) : h;
    });
  }
}

/**
 * Images to moments: `conv_in` (3x3), the `down_blocks`, `mid_block`, `conv_norm_out` + SiLU,
 * `conv_out` (3x3) to 2 * latentChannels channels (mean, then logvar).
 */
export class Encoder extends Module {
  readonly config: AutoencoderKLConfig;
  readonly convIn: Conv2d;
  readonly downBlocks: ModuleList<DownEncoderBlock2D>;
  readonly midBlock: UNetMidBlock2D;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(config: AutoencoderKLConfig, opts: VaeBlockOptions) {
    super();
    this.config = config;
    const b = config.blockOutChannels;
    const last = b[b.length - 1];
    const init = opts.init ?? 'torch';
    this.convIn = this.registerModule(
      'conv_in',
      new Conv2d(config.inChannels, b[0], 3, { rng: opts.rng, padding: 1, init }),
    );
    const levels: DownEncoderBlock2D[] = [];
    b.forEach((ch, i) => {
      const prev = i === 0 ? b[0] : b[i - 1];
      levels.push(new DownEncoderBlock2D(prev, ch, config.layersPerBlock, i < b.length - 1, opts));
    });
    this.downBlocks = this.registerModule('down_blocks', new ModuleList(levels));
    this.midBlock = this.registerModule(
      'mid_block',
      new UNetMidBlock2D(last, config.midBlockAddAttention, opts),
    );
    this.convNormOut = this.registerModule(
      'conv_norm_out',
      new GroupNorm(opts.groups, last, { eps: VAE_NORM_EPS }),
    );
    this.convOut = this.registerModule(
      'conv_out',
      new Conv2d(last, 2 * config.latentChannels, 3, { rng: opts.rng, padding: 1, init }),
    );
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
