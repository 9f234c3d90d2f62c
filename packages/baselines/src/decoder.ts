/** diffusers' VAE `Decoder` (with `UpDecoderBlock2D` levels and group norms). */
import { Conv2d, GroupNorm, Module, ModuleList, silu } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKLConfig } from './config.js';
import { UNetMidBlock2D } from './mid-block.js';
import { Upsample2D } from './resample.js';
import { ResnetBlock2D, VAE_NORM_EPS, type VaeBlockOptions } from './resnet-block.js';

/**
 * One decoder level: `resnets.{0..layers}` (layers_per_block + 1 blocks; the first changes the
 * width) and, except on the last level, `upsamplers.0`.
 */
export class UpDecoderBlock2D extends Module {
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly upsamplers: ModuleList<Upsample2D> | null;

  constructor(
    inChannels: number,
    outChannels: number,
    layers: number,
    addUpsample: boolean,
    opts: VaeBlockOptions,
  ) {
    super();
    const blocks: ResnetBlock2D[] = [];
    for (let j = 0; j < layers; j++)
      blocks.push(new ResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, opts));
    this.resnets = this.registerModule('resnets', new ModuleList(blocks));
    this.upsamplers = addUpsample
      ? this.registerModule('upsamplers', new ModuleList([new Upsample2D(outChannels, opts)]))
      : null;
  }

  /** x [B, H, W, in] -> [B, 2H, 2W, out] (or [B, H, W, out] on the last level). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const r of this.resnets) h = r.forward(h);
      return this.upsamplers ? this.upsamplers.at(0).forward(h) : h;
    });
  }
}

/** The decoder's output and the input of its last conv (for taming's adaptive GAN weight). */
export interface DecoderFeatures {
  /** [B, H, W, outChannels]. */
  output: tf.Tensor4D;
  /** silu(conv_norm_out(h)): what `conv_out` convolves, [B, H, W, blockOutChannels[0]]. */
  preOut: tf.Tensor4D;
}

/**
 * Latents to images: `conv_in` (3x3) to the last level's width, `mid_block`, the `up_blocks` (widths
 * reversed), `conv_norm_out` + SiLU, `conv_out` (3x3).
 */
export class Decoder extends Module {
  readonly config: AutoencoderKLConfig;
  readonly convIn: Conv2d;
  readonly midBlock: UNetMidBlock2D;
  readonly upBlocks: ModuleList<UpDecoderBlock2D>;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(config: AutoencoderKLConfig, opts: VaeBlockOptions) {
    super();
    this.config = config;
    const b = config.blockOutChannels;
    const rev = [...b].reverse();
    const init = opts.init ?? 'torch';
    this.convIn = this.registerModule(
      'conv_in',
      new Conv2d(config.latentChannels, rev[0], 3, { rng: opts.rng, padding: 1, init }),
    );
    this.midBlock = this.registerModule(
      'mid_block',
      new UNetMidBlock2D(rev[0], config.midBlockAddAttention, opts),
    );
    const levels: UpDecoderBlock2D[] = [];
    rev.forEach((ch, i) => {
      const prev = i === 0 ? rev[0] : rev[i - 1];
      levels.push(new UpDecoderBlock2D(prev, ch, config.layersPerBlock + 1, i < rev.length - 1, opts));
    });
    this.upBlocks = this.registerModule('up_blocks', new ModuleList(levels));
    this.convNormOut = this.registerModule(
      'conv_norm_out',
      new GroupNorm(opts.groups, b[0], { eps: VAE_NORM_EPS }),
    );
    this.convOut = this.registerModule(
      'conv_out',
      new Conv2d(b[0], config.outChannels, 3, { rng: opts.rng, padding: 1, init }),
    );
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
