/**
 * The self-attention of diffusers' VAE mid-block (`Attention` built with `_from_deprecated_attn_block`):
 * one head as wide as the channels, a GroupNorm in front, a residual connection.
 */
import { type GroupNorm, Linear, Module, ModuleList, matMulNT, type Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { type VaeInit, vaeGroupNorm } from './resnet-block.js';

/** Options of {@link AttentionBlock}. */
export interface AttentionBlockOptions {
  rng: Rng;
  /** GroupNorm groups. */
  groups: number;
  /** Default 'torch' (nn.Linear's default init). */
  init?: VaeInit;
}

/**
 * x -> x + to_out(softmax(q k^T / sqrt(C)) v) with q, k, v = to_q / to_k / to_v of group_norm(x),
 * over the H*W positions of x. Children `group_norm`, `to_q`, `to_k`, `to_v` and `to_out.0`
 * (diffusers' names; older checkpoints call them query / key / value / proj_attn, see
 * `convertVaeStateDict`).
 */
export class AttentionBlock extends Module {
  readonly channels: number;
  readonly groupNorm: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: ModuleList<Linear>;

  constructor(channels: number, opts: AttentionBlockOptions) {
    super();
    this.channels = channels;
    const init = opts.init ?? 'torch';
    const lin = () => new Linear(channels, channels, { rng: opts.rng, init });
    this.groupNorm = this.registerModule('group_norm', vaeGroupNorm(channels, opts));
    this.toQ = this.registerModule('to_q', lin());
    this.toK = this.registerModule('to_k', lin());
    this.toV = this.registerModule('to_v', lin());
    // diffusers' to_out is [Linear, Dropout]; the dropout holds no weights.
    this.toOut = this.registerModule('to_out', new ModuleList([lin()]));
  }

  /** x [B, H, W, C] -> [B, H, W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.channels) {
      throw new Error(
        `AttentionBlock.forward: x must be [B, H, W, ${this.channels}] (NHWC), got [${x.shape}]`,
      );
    }
    const [b, h, w, c] = x.shape;
    return tf.tidy(() => {
      const tokens = tf.reshape(this.groupNorm.forward(x), [b, h * w, c]);
      const q = tf.mul(this.toQ.forward(tokens), 1 / Math.sqrt(c));
      const k = this.toK.forward(tokens);
      // v as [B, C, N] so that attn @ v is an a @ b^T product too (the fast form on wasm).
      const vT = tf.transpose(this.toV.forward(tokens), [0, 2, 1]);
      const attn = tf.softmax(matMulNT(q, k));
      const out = this.toOut.at(0).forward(matMulNT(attn, vT));
      return tf.add(x, tf.reshape(out, [b, h, w, c]));
    });
  }
}
