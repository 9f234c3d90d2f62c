/** diffusers' `UNetMidBlock2D` as the VAE uses it: resnet, attention, resnet at constant width. */
import { Module, ModuleList } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { AttentionBlock } from './attention-block.js';
import { ResnetBlock2D, type VaeBlockOptions } from './resnet-block.js';

/** Children `resnets.0`, `attentions.0` (when `addAttention`), `resnets.1`. */
export class UNetMidBlock2D extends Module {
  readonly channels: number;
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly attentions: ModuleList<AttentionBlock> | null;

  constructor(channels: number, addAttention: boolean, opts: VaeBlockOptions) {
    super();
    this.channels = channels;
    // Built in diffusers' order (resnet, attention, resnet) so a seed gives the same weights as the
    // layer order suggests; registered in its order too (attentions before resnets).
    const first = new ResnetBlock2D(channels, channels, opts);
    const attn = addAttention ? new AttentionBlock(channels, opts) : null;
    const second = new ResnetBlock2D(channels, channels, opts);
    this.attentions = attn ? this.registerModule('attentions', new ModuleList([attn])) : null;
    this.resnets = this.registerModule('resnets', new ModuleList([first, second]));
  }

  /** x [B, H, W, C] -> [B, H, W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.resnets.at(0).forward(x);
      if (this.attentions) h = this.attentions.at(0).forward(h);
      return this.resnets.at(1).forward(h);
    });
  }
}
