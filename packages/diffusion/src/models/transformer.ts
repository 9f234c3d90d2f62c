/**
 * The adaLN-Zero diffusion transformer both DiT and LightningDiT are made of. With every LightningDiT
 * feature off (LayerNorm without affine, GELU-tanh MLP, no RoPE, no qk-norm, shifts on) it is exactly
 * DiT; the two public classes only choose defaults and config types.
 */
import {
  Attention,
  get2dSincosPosEmbed,
  LayerNorm,
  Linear,
  Mlp,
  Module,
  ModuleList,
  RMSNorm,
  type Rng,
  RotaryEmbedding2d,
  SwiGLU,
  silu,
  swigluHidden,
  TimestepEmbedder,
  unpatchify,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkLatentInput, type Denoiser, labelsTensor, timesTensor } from '../denoiser.js';
import type { PredictionType } from '../schedulers/scheduler.js';
import type { DiTArchitecture } from './config.js';
import { AdaLNModulation, LabelEmbedder, modulate, PatchEmbed } from './layers.js';

/** The architecture switches of the shared transformer (DiT: all false). */
export interface TransformerFlags {
  qkNorm: boolean;
  swiglu: boolean;
  rope: boolean;
  rmsNorm: boolean;
  woShift: boolean;
}

type Norm = LayerNorm | RMSNorm;

function makeNorm(dim: number, rms: boolean): Norm {
  // Reference: RMSNorm(dim) (eps 1e-6, learnable weight) or nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6).
  return rms ? new RMSNorm(dim, { eps: 1e-6 }) : new LayerNorm(dim, { eps: 1e-6, affine: false });
}

/** One adaLN-Zero block: `norm1`, `attn`, `norm2`, `mlp`, `adaLN_modulation`. */
export class AdaLNBlock extends Module {
  readonly norm1: Norm;
  readonly attn: Attention;
  readonly norm2: Norm;
  readonly mlp: Mlp | SwiGLU;
  readonly adaLN: AdaLNModulation;
  private readonly woShift: boolean;

  constructor(dim: number, heads: number, mlpRatio: number, flags: TransformerFlags, rng: Rng) {
    super();
    this.woShift = flags.woShift;
    this.norm1 = this.registerModule('norm1', makeNorm(dim, flags.rmsNorm));
    this.attn = this.registerModule(
      'attn',
      new Attention(dim, heads, {
        rng,
        qkvBias: true,
        qkNorm: flags.qkNorm ? (flags.rmsNorm ? 'rmsnorm' : 'layernorm') : false,
      }),
    );
    this.norm2 = this.registerModule('norm2', makeNorm(dim, flags.rmsNorm));
    this.mlp = this.registerModule(
      'mlp',
      flags.swiglu
        ? new SwiGLU(dim, swigluHidden(dim, mlpRatio), { rng })
        : new Mlp(dim, Math.trunc(dim * mlpRatio), { rng, act: 'gelu_tanh' }),
    );
    this.adaLN = this.registerModule(
      'adaLN_modulation',
      new AdaLNModulation(dim, flags.woShift ? 4 : 6, rng),
    );
  }

  /** x [B, N, D], siluC [B, D] (silu of the conditioning) -> [B, N, D]. */
  forward(x: tf.Tensor, siluC: tf.Tensor, rope: RotaryEmbedding2d | null): tf.Tensor3D {
    return tf.tidy(() => {
      const m = this.adaLN.forward(siluC);
      const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.woShift
        ? [null, m[0], m[1], null, m[2], m[3]]
        : m;
      const a = this.attn.forward(modulate(this.norm1.forward(x), shiftMsa, scaleMsa), rope);
      const h = tf.add(x, tf.mul(gateMsa, a));
      const f = this.mlp.forward(modulate(this.norm2.forward(h), shiftMlp, scaleMlp));
      return tf.add(h, tf.mul(gateMlp, f)) as tf.Tensor3D;
    });
  }
}

/** The output head: `norm_final`, adaLN shift / scale, `linear` to p*p*out (zero-initialised). */
export class FinalLayer extends Module {
  readonly normFinal: Norm;
  readonly linear: Linear;
  readonly adaLN: AdaLNModulation;

  constructor(dim: number, outFeatures: number, rms: boolean, rng: Rng) {
    super();
    this.normFinal = this.registerModule('norm_final', makeNorm(dim, rms));
    this.linear = this.registerModule('linear', new Linear(dim, outFeatures, { rng, init: 'zeros' }));
    this.adaLN = this.registerModule('adaLN_modulation', new AdaLNModulation(dim, 2, rng));
  }

  forward(x: tf.Tensor, siluC: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [shift, scale] = this.adaLN.forward(siluC);
      return this.linear.forward(modulate(this.normFinal.forward(x), shift, scale));
    });
  }
}

/**
 * EVA's VisionRotaryEmbeddingFast keeps its tables as persistent buffers, so reference state dicts
 * hold `feat_rope.freqs_cos` / `feat_rope.freqs_sin`; this module carries copies under those names so
 * checkpoints load strictly. The rotation itself is core's {@link RotaryEmbedding2d}.
 */
export class FeatRope extends Module {
  readonly rope: RotaryEmbedding2d;
  constructor(headDim: number, grid: [number, number]) {
    super();
    this.rope = this.registerModule('rope', new RotaryEmbedding2d(headDim, grid));
    this.registerBuffer('freqs_cos', this.rope.freqsCos.clone());
    this.registerBuffer('freqs_sin', this.rope.freqsSin.clone());
  }
}

/**
 * The shared adaLN-Zero transformer. Submodules (reference names): `x_embedder`, `t_embedder`,
 * `y_embedder`, buffer `pos_embed` [1, T, D] (fixed sin-cos), `feat_rope` (with RoPE), `blocks.i`,
 * `final_layer`. Initialisation as the reference: xavier-uniform Linears with zero biases, patch
 * embedding like a Linear, label table and timestep MLP N(0, 0.02), every adaLN output layer and the
 * final linear zero, so an untrained model predicts exactly zero.
 */
export class AdaLNTransformer extends Module implements Denoiser {
  readonly inChannels: number;
  readonly inputSize: [number, number];
  readonly numClasses: number;
  readonly nullClass: number | null;
  /** What the model was trained to predict, when known (set by the trainer and the loaders). */
  prediction: PredictionType | null = null;
  readonly patchSize: number;
  readonly hiddenSize: number;
  /** Channels the final layer predicts (2c with learnSigma). */
  readonly outChannels: number;
  /** Token grid [h / p, w / p]. */
  readonly grid: [number, number];
  readonly xEmbedder: PatchEmbed;
  readonly tEmbedder: TimestepEmbedder;
  readonly yEmbedder: LabelEmbedder;
  readonly featRope: FeatRope | null;
  readonly blocks: ModuleList<AdaLNBlock>;
  readonly finalLayer: FinalLayer;

  protected constructor(arch: DiTArchitecture, flags: TransformerFlags, rng: Rng) {
    super();
    const [h, w] = arch.inputSize;
    const p = arch.patchSize;
    const d = arch.hiddenSize;
    this.inChannels = arch.inChannels;
    this.inputSize = [h, w];
    this.numClasses = arch.numClasses;
    this.nullClass = arch.classDropoutProb > 0 ? arch.numClasses : null;
    this.patchSize = p;
    this.hiddenSize = d;
    this.outChannels = arch.learnSigma ? 2 * arch.inChannels : arch.inChannels;
    this.grid = [h / p, w / p];
    const tokens = this.grid[0] * this.grid[1];
    this.xEmbedder = this.registerModule('x_embedder', new PatchEmbed(p, arch.inChannels, d, rng));
    this.tEmbedder = this.registerModule('t_embedder', new TimestepEmbedder(d, { rng }));
    this.yEmbedder = this.registerModule(
      'y_embedder',
      new LabelEmbedder(arch.numClasses, d, this.nullClass !== null, rng),
    );
    this.registerBuffer('pos_embed', tf.tensor3d(get2dSincosPosEmbed(d, this.grid), [1, tokens, d]));
    this.featRope = flags.rope
      ? this.registerModule('feat_rope', new FeatRope(d / arch.numHeads, this.grid))
      : null;
    const blocks: AdaLNBlock[] = [];
    for (let i = 0; i < arch.depth; i++)
      blocks.push(new AdaLNBlock(d, arch.numHeads, arch.mlpRatio, flags, rng));
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.finalLayer = this.registerModule(
      'final_layer',
      new FinalLayer(d, p * p * this.outChannels, flags.rmsNorm, rng),
    );
  }

  /**
   * x [B, h, w, c], t [B], y [B] int32 (default: the null class, or 0 without one) -> [B, h, w, c].
   * With learnSigma the variance channels are dropped (see {@link forwardFull}).
   */
  forward(
    x: tf.Tensor,
    t: tf.Tensor | ArrayLike<number>,
    y?: tf.Tensor | ArrayLike<number> | null,
  ): tf.Tensor4D {
    const out = this.forwardFull(x, t, y);
    if (this.outChannels === this.inChannels) return out;
    const sliced = tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, this.inChannels]) as tf.Tensor4D;
    out.dispose();
    return sliced;
  }

  /** Like {@link forward}, but returns all `outChannels` (mean, then variance channels with learnSigma). */
  forwardFull(
    x: tf.Tensor,
    t: tf.Tensor | ArrayLike<number>,
    y?: tf.Tensor | ArrayLike<number> | null,
  ): tf.Tensor4D {
    const where = `${this.constructor.name}.forward`;
    const b = checkLatentInput(x, this, where);
    const rows = this.yEmbedder.rows;
    const tt = timesTensor(t, b, where);
    let yy: tf.Tensor1D;
    try {
      yy = labelsTensor(y, b, rows, this.nullClass ?? 0, where);
    } catch (e) {
      tt.dispose();
      throw e;
    }
    try {
      return tf.tidy(() => {
        // Looked up each call: loadStateDict replaces buffer tensors.
        let h: tf.Tensor = tf.add(this.xEmbedder.forward(x), this.getTensor('pos_embed'));
        const c = tf.add(this.tEmbedder.forward(tt), this.yEmbedder.forward(yy));
        const sc = silu(c);
        const rope = this.featRope?.rope ?? null;
        for (const block of this.blocks) h = block.forward(h, sc, rope);
        const out = this.finalLayer.forward(h, sc);
        return unpatchify(out, this.patchSize, this.grid, this.outChannels);
      });
    } finally {
      tf.dispose([tt, yy]);
    }
  }
}
