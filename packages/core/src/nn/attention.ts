/**
 * Multi-head self-attention of timm's ViT / MAE / LightningDiT, written for the wasm backend: one
 * batched product over [B, heads, N, d] for all heads, q / k / v cut from the fused projection in one
 * pass there (elsewhere with a split and 4-D transposes; 5-D transposes are slow on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel } from '../backend/kernels/fused.js';
import { headInputs, MERGE_HEADS, SPLIT_HEADS } from '../backend/kernels/fused-transformer.js';
import { productsTakeTransposeFlags } from '../backend/kernels/index.js';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { customGrad2 } from './custom-grad.js';
import { LayerNorm } from './layer-norm.js';
import { getMatMulGradMode, Linear, type LinearInit } from './linear.js';
import { Module } from './module.js';
import { RMSNorm } from './rms-norm.js';
import type { RotaryEmbedding2d } from './rope.js';

const swapLast = (t: tf.Tensor) => {
  const p = t.shape.map((_, i) => i);
  [p[p.length - 2], p[p.length - 1]] = [p[p.length - 1], p[p.length - 2]];
  return tf.transpose(t, p);
};

// Written as a @ b^T in forward and backward. With core's wasm BatchMatMul (per-batch XNNPACK on heap
// views) the layout matters little now; a layout without these transposes measured no faster.
const matMulNTExplicit = customGrad2((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b, false, true),
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => [
      tf.matMul(dy, swapLast(sb), false, true),
      tf.matMul(swapLast(dy), swapLast(sa), false, true),
    ],
  };
});

// a @ b in the same form: a plain product forward, products with b^T flags backward.
const matMulNNExplicit = customGrad2((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => [
      tf.matMul(dy, sb, false, true),
      tf.matMul(swapLast(sa), swapLast(dy), false, true),
    ],
  };
});

/**
 * Whether attention's products use tfjs's gradients with transpose flags: in the 'tfjs' mode, and where
 * the backend's product takes the flags at no cost.
 */
const flagsDirect = () => getMatMulGradMode() === 'tfjs' || productsTakeTransposeFlags();

/**
 * Batched a @ b^T for a [..., M, K] and b [..., N, K] (same leading dimensions) -> [..., M, N]; the
 * backward pass multiplies in the same a @ b^T form (see {@link setMatMulGradMode} for the tfjs one).
 */
export function matMulNT(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = a.rank;
  if (
    r < 2 ||
    b.rank !== r ||
    a.shape[r - 1] !== b.shape[r - 1] ||
    !a.shape.slice(0, -2).every((d, i) => d === b.shape[i])
  ) {
    throw new Error(
      `matMulNT: expected a [..., M, K] and b [..., N, K], got a [${a.shape}] and b [${b.shape}]`,
    );
  }
  return flagsDirect() ? tf.matMul(a, b, false, true) : matMulNTExplicit(a, b);
}

/** Batched a @ b for a [..., M, K] and b [..., K, N], differentiated as {@link matMulNT}. */
function matMulNN(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return flagsDirect() ? tf.matMul(a, b) : matMulNNExplicit(a, b);
}

/** Whether the one-pass head kernels serve `t`; each is the other's gradient, so both or neither. */
const headKernels = (t: tf.Tensor) =>
  t.dtype === 'float32' && hasKernel(SPLIT_HEADS) && hasKernel(MERGE_HEADS);

/**
 * x [B, N, parts * heads * d] -> `parts` tensors [B, heads, N, d] (part p, head h from channels
 * (p * heads + h) * d ...): q, k and v out of the fused projection. One pass on wasm.
 */
function splitHeads(x: tf.Tensor, parts: number, heads: number): tf.Tensor[] {
  const [b, n, width] = x.shape;
  const d = width / (parts * heads);
  if (headKernels(x)) {
    return tf.engine().runKernel(SPLIT_HEADS, { x }, { parts, heads }) as tf.Tensor[];
  }
  return tf.split(x, parts, 2).map((t) => tf.transpose(tf.reshape(t, [b, n, heads, d]), [0, 2, 1, 3]));
}

/** The inverse of {@link splitHeads} for one part: o [B, heads, N, d] -> [B, N, heads * d]. */
function mergeHeads(o: tf.Tensor): tf.Tensor3D {
  const [b, heads, n, d] = o.shape;
  if (headKernels(o)) {
    return tf.engine().runKernel(MERGE_HEADS, headInputs([o]), { parts: 1, heads }) as tf.Tensor3D;
  }
  return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, n, heads * d]);
}

/** Per-head normalisation of queries and keys (LightningDiT's qk_norm). */
export type QkNorm = false | 'layernorm' | 'rmsnorm';

/** Options of {@link Attention}. */
export interface AttentionOptions {
  rng: Rng;
  /** Bias on the fused qkv projection. Default true (MAE, DiT, LightningDiT blocks). */
  qkvBias?: boolean;
  /** Bias on the output projection. Default true. */
  projBias?: boolean;
  /**
   * Normalise q and k over each head's channels: 'layernorm' (nn.LayerNorm(headDim), eps 1e-5) or
   * 'rmsnorm' (RMSNorm(headDim), eps 1e-6). Default false.
   */
  qkNorm?: QkNorm;
  /** Rotary embedding applied to q and k (after qk_norm) when `forward` is given none. */
  rope?: RotaryEmbedding2d;
  /** Initialisation of qkv and proj. Default 'xavier_uniform'. */
  init?: LinearInit;
}

/** A query / key normaliser: either norm class, both normalise the last axis. */
type HeadNorm = LayerNorm | RMSNorm;

/**
 * softmax(q k^T * d^-0.5) v over `heads` heads of d = dim / heads channels. The fused projection
 * `qkv` has output rows [q; k; v], each `dim` wide with the heads contiguous inside (PyTorch's
 * reshape(B, N, 3, heads, d)). Submodules: `qkv`, `q_norm`, `k_norm` (with qkNorm), `proj`.
 */
export class Attention extends Module {
  readonly dim: number;
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly qNorm: HeadNorm | null;
  readonly kNorm: HeadNorm | null;
  /** Default rotary embedding (not a child: it is shared and holds no state-dict entries). */
  readonly rope: RotaryEmbedding2d | null;

  constructor(dim: number, heads: number, opts: AttentionOptions) {
    super();
    checkNumber(dim, 'Attention: dim', 'a positive integer');
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
      throw new RangeError(`Attention: heads must be a positive divisor of dim (${dim}), got ${heads}`);
    }
    if (!opts?.rng) throw new TypeError('Attention: opts.rng (an Rng from createRng) is required');
    this.dim = dim;
    this.heads = heads;
    this.headDim = dim / heads;
    this.scale = this.headDim ** -0.5;
    const init = opts.init ?? 'xavier_uniform';
    this.qkv = this.registerModule(
      'qkv',
      new Linear(dim, 3 * dim, { rng: opts.rng, bias: opts.qkvBias ?? true, init }),
    );
    const qk = opts.qkNorm ?? false;
    if (qk !== false && qk !== 'layernorm' && qk !== 'rmsnorm') {
      throw new Error(`Attention: qkNorm must be false, 'layernorm' or 'rmsnorm', got '${qk}'`);
    }
    const mk = (): HeadNorm => (qk === 'rmsnorm' ? new RMSNorm(this.headDim) : new LayerNorm(this.headDim));
    this.qNorm = qk ? this.registerModule('q_norm', mk()) : null;
    this.kNorm = qk ? this.registerModule('k_norm', mk()) : null;
    this.proj = this.registerModule(
      'proj',
      new Linear(dim, dim, { rng: opts.rng, bias: opts.projBias ?? true, init }),
    );
    this.rope = opts.rope ?? null;
    if (this.rope && this.rope.headDim !== this.headDim) {
      throw new Error(
        `Attention: rope.headDim (${this.rope.headDim}) must equal dim / heads (${this.headDim})`,
      );
    }
  }

  /**
   * x [B, N, dim] -> [B, N, dim]. `rope` (default: the constructor's) rotates q and k; its grid must
   * have N tokens.
   */
  forward(x: tf.Tensor, rope: RotaryEmbedding2d | null = this.rope): tf.Tensor3D {
    if (x.rank !== 3 || x.shape[2] !== this.dim) {
      throw new Error(`Attention.forward: x must have shape [B, N, ${this.dim}], got [${x.shape}]`);
    }
    const n = x.shape[1];
    if (rope && (rope.numTokens !== n || rope.headDim !== this.headDim)) {
      throw new Error(
        `Attention.forward: rope is for ${rope.numTokens} tokens of ${rope.headDim} channels, x has ${n} tokens of ${this.headDim}`,
      );
    }
    return tf.tidy(() => {
      let [q, k, v] = splitHeads(this.qkv.forward(x), 3, this.heads);
      if (this.qNorm) q = this.qNorm.forward(q);
      if (this.kNorm) k = this.kNorm.forward(k);
      if (rope) {
        q = rope.forward(q);
        k = rope.forward(k);
      }
      const attn = tf.softmax(matMulNT(tf.mul(q, this.scale), k));
      const out = mergeHeads(matMulNN(attn, v));
      return this.proj.forward(out) as tf.Tensor3D;
    });
  }
}
