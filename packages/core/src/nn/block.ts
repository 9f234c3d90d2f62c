/** The pre-norm transformer block of timm's ViT and MAE. */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../rng.js';
import type { ActivationName } from './activations.js';
import { Attention, type QkNorm } from './attention.js';
import { LayerNorm } from './layer-norm.js';
import type { LinearInit } from './linear.js';
import { Mlp } from './mlp.js';
import { Module } from './module.js';
import { RMSNorm } from './rms-norm.js';
import type { RotaryEmbedding2d } from './rope.js';
import { SwiGLU, swigluHidden } from './swiglu.js';

/** Options of {@link Block}. */
export interface BlockOptions {
  rng: Rng;
  /** MLP hidden width = int(dim * mlpRatio). Default 4. */
  mlpRatio?: number;
  /** Bias on the qkv projection. Default true (MAE). */
  qkvBias?: boolean;
  /** 'layernorm' (default; eps {@link BlockOptions.eps}) or 'rmsnorm' for norm1 / norm2. */
  norm?: 'layernorm' | 'rmsnorm';
  /** Epsilon of norm1 / norm2. Default 1e-6 (MAE's partial(nn.LayerNorm, eps=1e-6), DiT, RMSNorm). */
  eps?: number;
  /** Learnable weight / bias on the LayerNorms. Default true. */
  normAffine?: boolean;
  /** Per-head normalisation of q and k. Default false. */
  qkNorm?: QkNorm;
  /** 'mlp' (default, timm Mlp) or 'swiglu' (LightningDiT's SwiGLUFFN of width int(2/3 * hidden)). */
  ffn?: 'mlp' | 'swiglu';
  /** Activation of the 'mlp' feed-forward. Default 'gelu' (exact, timm / MAE). */
  act?: ActivationName;
  /** Rotary embedding used by `attn` when `forward` is given none. */
  rope?: RotaryEmbedding2d;
  /** Initialisation of every Linear. Default 'xavier_uniform' (MAE). */
  init?: LinearInit;
}

/** x + attn(norm1(x)), then x + mlp(norm2(x)). Submodules: `norm1`, `attn`, `norm2`, `mlp`. */
export class Block extends Module {
  readonly dim: number;
  readonly norm1: LayerNorm | RMSNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm | RMSNorm;
  readonly mlp: Mlp | SwiGLU;

  constructor(dim: number, heads: number, opts: BlockOptions) {
    super();
    if (!opts?.rng) throw new TypeError('Block: opts.rng (an Rng from createRng) is required');
    const ratio = opts.mlpRatio ?? 4;
    if (!(ratio > 0)) throw new RangeError(`Block: mlpRatio must be > 0, got ${ratio}`);
    const norm = opts.norm ?? 'layernorm';
    if (norm !== 'layernorm' && norm !== 'rmsnorm') {
      throw new Error(`Block: norm must be 'layernorm' or 'rmsnorm', got '${norm}'`);
    }
    const eps = opts.eps ?? 1e-6;
    const mkNorm = () =>
      norm === 'rmsnorm'
        ? new RMSNorm(dim, { eps })
        : new LayerNorm(dim, { eps, affine: opts.normAffine ?? true });
    this.dim = dim;
    this.norm1 = this.registerModule('norm1', mkNorm());
    this.attn = this.registerModule(
      'attn',
      new Attention(dim, heads, {
        rng: opts.rng,
        qkvBias: opts.qkvBias ?? true,
        qkNorm: opts.qkNorm,
        rope: opts.rope,
        init: opts.init,
      }),
    );
    this.norm2 = this.registerModule('norm2', mkNorm());
    const hidden = Math.trunc(dim * ratio);
    const ffn = opts.ffn ?? 'mlp';
    if (ffn === 'swiglu') {
      this.mlp = this.registerModule(
        'mlp',
        new SwiGLU(dim, swigluHidden(dim, ratio), { rng: opts.rng, init: opts.init }),
      );
    } else if (ffn === 'mlp') {
      this.mlp = this.registerModule(
        'mlp',
        new Mlp(dim, hidden, { rng: opts.rng, act: opts.act, init: opts.init }),
      );
    } else throw new Error(`Block: ffn must be 'mlp' or 'swiglu', got '${ffn}'`);
  }

  /** x [B, N, dim] -> [B, N, dim]; `rope` overrides the constructor's rotary embedding. */
  forward(x: tf.Tensor, rope?: RotaryEmbedding2d | null): tf.Tensor3D {
    if (x.rank !== 3 || x.shape[2] !== this.dim) {
      throw new Error(`Block.forward: x must have shape [B, N, ${this.dim}], got [${x.shape}]`);
    }
    return tf.tidy(() => {
      const h = tf.add(
        x,
        this.attn.forward(this.norm1.forward(x), rope === undefined ? this.attn.rope : rope),
      );
      return tf.add(h, this.mlp.forward(this.norm2.forward(h))) as tf.Tensor3D;
    });
  }
}
