/**
 * DiT (Peebles & Xie, "Scalable Diffusion Models with Transformers") and LightningDiT (Yao et al., the
 * denoiser of the LDMAE paper) as one adaLN-Zero transformer, laid out like the reference `models.py`:
 * configs, the block, the model, then the preset table. LightningDiT's features (RMSNorm, SwiGLU,
 * 2-D RoPE, qk-norm, adaLN without shifts) are flags of the config; a classic DiT config has them all
 * off. Submodule and parameter names are the reference's, so state dicts map by name.
 */
import {
  Attention,
  atDoor,
  createRng,
  get2dSincosPosEmbed,
  Mlp,
  Module,
  ModuleList,
  type Rng,
  type RotaryEmbedding2d,
  SwiGLU,
  silu,
  swigluHidden,
  TimestepEmbedder,
  unpatchify,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkLatentInput, type Denoiser, labelsTensor, timesTensor } from '../denoiser.js';
import type { PredictionType } from '../schedulers/scheduler.js';
import {
  AdaLNModulation,
  FeatRope,
  FinalLayer,
  LabelEmbedder,
  makeNorm,
  modulate,
  type Norm,
  PatchEmbed,
} from './layers.js';

// ---------------------------------------------------------------------------------------------
// Configs: plain JSON, saved in checkpoints; `fromConfig` rebuilds the same architecture.
// ---------------------------------------------------------------------------------------------

/** Fields DiT and LightningDiT share. */
export interface DiTArchitecture {
  /** Latent grid [h, w]; both divisible by `patchSize`. */
  inputSize: [number, number];
  /** Side of the square patches that become tokens (1 or 2 for latents). */
  patchSize: number;
  /** Latent channels c. */
  inChannels: number;
  /** Token width D. */
  hiddenSize: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads; must divide hiddenSize. */
  numHeads: number;
  /** MLP width = int(hiddenSize * mlpRatio) (SwiGLU: int(2/3 * that)). */
  mlpRatio: number;
  /** Real classes (1 for unconditional models). */
  numClasses: number;
  /** Label dropout probability of training; > 0 adds the null-class row used by CFG (as DiT). */
  classDropoutProb: number;
  /** Predict a variance too (2c output channels; `forward` returns the first c). */
  learnSigma: boolean;
}

/** LightningDiT's architecture switches (a classic DiT has them all off). */
export interface LightningDiTFeatures {
  /** Normalise queries and keys per head (on for ImageNet, off for CelebA-HQ in the paper). */
  qkNorm: boolean;
  /** SwiGLU feed-forward of width int(2/3 * int(D * mlpRatio)) instead of a GELU MLP. */
  swiglu: boolean;
  /** 2-D rotary position embedding in attention (on top of the fixed sin-cos embedding). */
  rope: boolean;
  /** RMSNorm (with weight) instead of LayerNorm without affine, also for qk-norm. */
  rmsNorm: boolean;
  /** adaLN without shifts (4 chunks per block instead of 6). */
  woShift: boolean;
}

/** Configuration of the classic DiT (Peebles & Xie). */
export interface DiTConfig extends DiTArchitecture {
  type: 'dit';
}

/** Configuration of LightningDiT (Yao et al.), the denoiser of the LDMAE paper. */
export interface LightningDiTConfig extends DiTArchitecture, LightningDiTFeatures {
  type: 'lightningdit';
}

/** Either denoiser's configuration; `type` tells which. */
export type DenoiserConfig = DiTConfig | LightningDiTConfig;

/** Block shape of a preset. */
export interface PresetShape {
  depth: number;
  hiddenSize: number;
  patchSize: number;
  numHeads: number;
}

/**
 * Options of {@link DiT} and {@link LightningDiT}: a config, where a preset may supply the block shape.
 * The LightningDiT feature flags are LightningDiT's only.
 */
export interface DiTOptions extends Partial<Omit<LightningDiTConfig, 'type' | 'inputSize'>> {
  /** A name of the class's preset table; explicit depth / hiddenSize / patchSize / numHeads win. */
  preset?: string;
  /** Latent grid: a side or [h, w]. */
  inputSize: number | [number, number];
  /** Latent channels. */
  inChannels: number;
}

/** Options of {@link LightningDiT} (the same as {@link DiTOptions}). */
export type LightningDiTOptions = DiTOptions;

/** How a {@link DiT} or {@link LightningDiT} draws its initial weights: a generator or a seed (default 0). */
export interface InitOptions {
  rng?: Rng;
  seed?: number;
}

const FEATURES = ['qkNorm', 'swiglu', 'rope', 'rmsNorm', 'woShift'] as const;
const NO_FEATURES: LightningDiTFeatures = {
  qkNorm: false,
  swiglu: false,
  rope: false,
  rmsNorm: false,
  woShift: false,
};

/**
 * What each config type defaults to. DiT: the reference's learnSigma. LightningDiT: the paper's
 * features on (rmsNorm, rope, swiglu), qkNorm and woShift off (the reference constructor has every
 * feature off; its configs turn them on).
 */
const VARIANTS = {
  dit: { name: 'DiT', learnSigma: true, features: NO_FEATURES },
  lightningdit: {
    name: 'LightningDiT',
    learnSigma: false,
    features: { ...NO_FEATURES, swiglu: true, rope: true, rmsNorm: true },
  },
} as const;

const show = (v: unknown) => JSON.stringify(v);

/** A complete, validated config of `type` from options (throws naming the field). */
function denoiserConfig(type: DenoiserConfig['type'], opts: DiTOptions): DenoiserConfig {
  const v = VARIANTS[type];
  const fail = (msg: string, E = RangeError) => {
    throw new E(`${v.name}: ${msg}`);
  };
  if (!opts || typeof opts !== 'object') fail('options object expected', TypeError);
  let base: Partial<PresetShape> = {};
  if (opts.preset) {
    const table = type === 'dit' ? DIT_PRESETS : LIGHTNINGDIT_PRESETS;
    if (!Object.hasOwn(table, opts.preset))
      throw new Error(`${v.name}: unknown preset '${opts.preset}'; known: ${Object.keys(table).join(', ')}`);
    base = table[opts.preset];
  }
  const pick = (k: keyof PresetShape): number => {
    const got = opts[k] ?? base[k];
    if (got === undefined) fail(`${k} is required (or give a preset)`, TypeError);
    return got as number;
  };
  const size = typeof opts.inputSize === 'number' ? [opts.inputSize, opts.inputSize] : opts.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || size.some((d) => !Number.isInteger(d) || d < 1))
    fail(`inputSize must be a positive integer or [h, w], got ${show(opts.inputSize)}`);
  const arch: DiTArchitecture = {
    inputSize: [size[0], size[1]],
    patchSize: pick('patchSize'),
    inChannels: opts.inChannels,
    hiddenSize: pick('hiddenSize'),
    depth: pick('depth'),
    numHeads: pick('numHeads'),
    mlpRatio: opts.mlpRatio ?? 4,
    numClasses: opts.numClasses ?? 1000,
    classDropoutProb: opts.classDropoutProb ?? 0.1,
    learnSigma: opts.learnSigma ?? v.learnSigma,
  };
  const posInt = (k: keyof DiTArchitecture): number => {
    const x = arch[k];
    if (!Number.isInteger(x) || (x as number) < 1) fail(`${k} must be a positive integer, got ${show(x)}`);
    return x as number;
  };
  const bool = (k: string, x: unknown) => {
    if (typeof x !== 'boolean') fail(`${k} must be a boolean, got ${show(x)}`, TypeError);
  };
  const [h, w] = arch.inputSize;
  const p = posInt('patchSize');
  if (h % p !== 0 || w % p !== 0) fail(`inputSize [${h}, ${w}] must be divisible by patchSize ${p}`);
  posInt('inChannels');
  const d = posInt('hiddenSize');
  posInt('depth');
  const heads = posInt('numHeads');
  if (d % heads !== 0) fail(`numHeads ${heads} must divide hiddenSize ${d}`);
  // The fixed 2-D sin-cos embedding splits D into four equal parts.
  if (d % 4 !== 0) fail(`hiddenSize must be a multiple of 4, got ${d}`);
  if (!(Number.isFinite(arch.mlpRatio) && arch.mlpRatio > 0))
    fail(`mlpRatio must be > 0, got ${arch.mlpRatio}`);
  posInt('numClasses');
  if (!(arch.classDropoutProb >= 0 && arch.classDropoutProb < 1))
    fail(`classDropoutProb must be in [0, 1), got ${arch.classDropoutProb}`);
  bool('learnSigma', arch.learnSigma);
  if (type === 'dit') {
    for (const k of FEATURES)
      if (opts[k]) fail(`${k} is a LightningDiT feature; use LightningDiT`, TypeError);
    return { type, ...arch };
  }
  const features = { ...v.features };
  for (const k of FEATURES) {
    features[k] = opts[k] ?? features[k];
    bool(k, features[k]);
  }
  if (features.rope && (d / heads) % 4 !== 0)
    fail(`rope needs hiddenSize / numHeads to be a multiple of 4, got ${d / heads}`);
  return { type, ...arch, ...features };
}

/** A complete DiT config. Defaults as the reference: mlpRatio 4, 1000 classes, dropout 0.1, learnSigma true. */
export function ditConfig(opts: DiTOptions): DiTConfig {
  return denoiserConfig('dit', opts) as DiTConfig;
}

/**
 * A complete LightningDiT config. Defaults: mlpRatio 4, numClasses 1000, classDropoutProb 0.1,
 * learnSigma false, and the paper's features on (rmsNorm, rope, swiglu) with qkNorm and woShift off.
 */
export function lightningDiTConfig(opts: LightningDiTOptions): LightningDiTConfig {
  return denoiserConfig('lightningdit', opts) as LightningDiTConfig;
}

// ---------------------------------------------------------------------------------------------
// Core DiT model
// ---------------------------------------------------------------------------------------------

/** One adaLN-Zero block: `norm1`, `attn`, `norm2`, `mlp`, `adaLN_modulation`. */
export class DiTBlock extends Module {
  readonly norm1: Norm;
  readonly attn: Attention;
  readonly norm2: Norm;
  readonly mlp: Mlp | SwiGLU;
  readonly adaLN: AdaLNModulation;
  private readonly woShift: boolean;

  constructor(dim: number, heads: number, mlpRatio: number, f: LightningDiTFeatures, rng: Rng) {
    super();
    this.woShift = f.woShift;
    this.norm1 = this.registerModule('norm1', makeNorm(dim, f.rmsNorm));
    const qkNorm = f.qkNorm ? (f.rmsNorm ? 'rmsnorm' : 'layernorm') : false;
    this.attn = this.registerModule('attn', new Attention(dim, heads, { rng, qkvBias: true, qkNorm }));
    this.norm2 = this.registerModule('norm2', makeNorm(dim, f.rmsNorm));
    this.mlp = this.registerModule(
      'mlp',
      f.swiglu
        ? new SwiGLU(dim, swigluHidden(dim, mlpRatio), { rng })
        : new Mlp(dim, Math.trunc(dim * mlpRatio), { rng, act: 'gelu_tanh' }),
    );
    this.adaLN = this.registerModule('adaLN_modulation', new AdaLNModulation(dim, f.woShift ? 4 : 6, rng));
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

/**
 * The adaLN-Zero diffusion transformer: patch embedding + fixed sin-cos positions, adaLN-Zero blocks
 * of attention and an MLP, conditioned on timestep + class embedding. A `DiT` builds classic DiT
 * configs (LayerNorm without affine, eps 1e-6, GELU-tanh MLP, learnSigma by default: `forward`
 * returns the first c channels and `forwardFull` all 2c); {@link LightningDiT} builds LightningDiT
 * configs. Submodules (reference names): `x_embedder`, `t_embedder`, `y_embedder`, buffer `pos_embed`
 * [1, T, D], `feat_rope` (with RoPE), `blocks.i`, `final_layer`. Initialisation as the reference:
 * xavier-uniform Linears with zero biases, patch embedding like a Linear, label table and timestep MLP
 * N(0, 0.02), every adaLN output layer and the final linear zero, so an untrained model predicts
 * exactly zero.
 */
export class DiT extends Module implements Denoiser {
  /** The config type the class builds. */
  static readonly configType: DenoiserConfig['type'] = 'dit';
  readonly config: DenoiserConfig;
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
  readonly blocks: ModuleList<DiTBlock>;
  readonly finalLayer: FinalLayer;

  constructor(opts: DiTOptions, init: InitOptions = {}) {
    super();
    const cfg = denoiserConfig((new.target as typeof DiT).configType, opts);
    const f = cfg.type === 'lightningdit' ? cfg : NO_FEATURES;
    const rng = init.rng ?? createRng(init.seed ?? 0);
    const [h, w] = cfg.inputSize;
    const p = cfg.patchSize;
    const d = cfg.hiddenSize;
    this.config = cfg;
    this.inChannels = cfg.inChannels;
    this.inputSize = [h, w];
    this.numClasses = cfg.numClasses;
    this.nullClass = cfg.classDropoutProb > 0 ? cfg.numClasses : null;
    this.patchSize = p;
    this.hiddenSize = d;
    this.outChannels = cfg.learnSigma ? 2 * cfg.inChannels : cfg.inChannels;
    this.grid = [h / p, w / p];
    const tokens = this.grid[0] * this.grid[1];
    this.xEmbedder = this.registerModule('x_embedder', new PatchEmbed(p, cfg.inChannels, d, rng));
    this.tEmbedder = this.registerModule('t_embedder', new TimestepEmbedder(d, { rng }));
    this.yEmbedder = this.registerModule(
      'y_embedder',
      new LabelEmbedder(cfg.numClasses, d, this.nullClass !== null, rng),
    );
    this.registerBuffer('pos_embed', tf.tensor3d(get2dSincosPosEmbed(d, this.grid), [1, tokens, d]));
    this.featRope = f.rope
      ? this.registerModule('feat_rope', new FeatRope(d / cfg.numHeads, this.grid))
      : null;
    const blocks: DiTBlock[] = [];
    for (let i = 0; i < cfg.depth; i++) blocks.push(new DiTBlock(d, cfg.numHeads, cfg.mlpRatio, f, rng));
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.finalLayer = this.registerModule(
      'final_layer',
      new FinalLayer(d, p * p * this.outChannels, f.rmsNorm, rng),
    );
  }

  /** Rebuild from a saved config of this class's type (fresh weights; load a state dict to restore them). */
  static fromConfig<T extends DiT>(this: DiTClass<T>, config: DenoiserConfig, init: InitOptions = {}): T {
    // biome-ignore lint/complexity/noThisInStatic: the class called (DiT or LightningDiT) builds its own type.
    return fromOwnConfig(this, config, init);
  }

  /** The serialisable config (a copy). */
  toJSON(): this['config'] {
    return { ...this.config, inputSize: [...this.config.inputSize] };
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
    const [times, yy] = atDoor(`${this.constructor.name}.forward`, () => {
      const b = checkLatentInput(x, this);
      const tt = timesTensor(t, b);
      try {
        return [tt, labelsTensor(y, b, this.yEmbedder.rows, this.nullClass ?? 0)];
      } catch (e) {
        tt.dispose();
        throw e;
      }
    });
    try {
      return tf.tidy(() => {
        // Looked up each call: loadStateDict replaces buffer tensors.
        let h: tf.Tensor = tf.add(this.xEmbedder.forward(x), this.getTensor('pos_embed'));
        const c = tf.add(this.tEmbedder.forward(times), this.yEmbedder.forward(yy));
        const sc = silu(c);
        const rope = this.featRope?.rope ?? null;
        for (const block of this.blocks) h = block.forward(h, sc, rope);
        const out = this.finalLayer.forward(h, sc);
        return unpatchify(out, this.patchSize, this.grid, this.outChannels);
      });
    } finally {
      tf.dispose([times, yy]);
    }
  }
}

/**
 * LightningDiT: the DiT above with RMSNorm, 2-D RoPE, optional qk-norm and a SwiGLU MLP on by
 * default, learnSigma off, and a class embedding with a null class when classDropoutProb > 0. State
 * dicts are the reference's (`models/lightningdit.py`), so converted checkpoints load by name.
 */
export class LightningDiT extends DiT {
  static override readonly configType = 'lightningdit';
  declare readonly config: LightningDiTConfig;
}

/** DiT or a subclass, as `fromConfig` sees it. */
type DiTClass<T extends DiT> = (new (
  opts: DiTOptions,
  init?: InitOptions,
) => T) & {
  configType: DenoiserConfig['type'];
};

function fromOwnConfig<T extends DiT>(cls: DiTClass<T>, config: DenoiserConfig, init: InitOptions): T {
  if (config?.type !== cls.configType) {
    throw new TypeError(
      `${cls.name}.fromConfig: config.type must be '${cls.configType}', got ${show(config?.type)}`,
    );
  }
  const { type: _t, ...rest } = config;
  return new cls(rest, init);
}

/** A DiT or LightningDiT from its config (`toJSON()` output), by `config.type`. */
export function denoiserFromConfig(config: DenoiserConfig, init: InitOptions = {}): DiT | LightningDiT {
  if (config?.type === 'dit') return DiT.fromConfig(config, init);
  if (config?.type === 'lightningdit') return LightningDiT.fromConfig(config, init);
  throw new TypeError(
    `denoiserFromConfig: config.type must be 'dit' or 'lightningdit', got ${show((config as { type?: unknown })?.type)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Presets: block shapes (depth, width, patch, heads) of the reference tables, plus small ones that
// train on a 2-core CPU. Latent size, channels and classes come from the data.
// ---------------------------------------------------------------------------------------------

const shape = (depth: number, hiddenSize: number, patchSize: number, numHeads: number): PresetShape => ({
  depth,
  hiddenSize,
  patchSize,
  numHeads,
});

/** DiT's model table (DiT-S/B/L/XL with patch 2, 4, 8) plus the small shapes Nano and Ti. */
export const DIT_PRESETS: Readonly<Record<string, PresetShape>> = Object.freeze({
  'DiT-XL/2': shape(28, 1152, 2, 16),
  'DiT-XL/4': shape(28, 1152, 4, 16),
  'DiT-XL/8': shape(28, 1152, 8, 16),
  'DiT-L/2': shape(24, 1024, 2, 16),
  'DiT-L/4': shape(24, 1024, 4, 16),
  'DiT-L/8': shape(24, 1024, 8, 16),
  'DiT-B/2': shape(12, 768, 2, 12),
  'DiT-B/4': shape(12, 768, 4, 12),
  'DiT-B/8': shape(12, 768, 8, 12),
  'DiT-S/2': shape(12, 384, 2, 6),
  'DiT-S/4': shape(12, 384, 4, 6),
  'DiT-S/8': shape(12, 384, 8, 6),
  'DiT-Ti/1': shape(6, 192, 1, 3),
  'DiT-Ti/2': shape(6, 192, 2, 3),
  'DiT-Nano/1': shape(2, 64, 1, 2),
  'DiT-Nano/2': shape(2, 64, 2, 2),
});

/** LightningDiT's model table (B/1 is the LDMAE paper's denoiser) plus the small shapes Nano and Ti. */
export const LIGHTNINGDIT_PRESETS: Readonly<Record<string, PresetShape>> = Object.freeze({
  'LightningDiT-B/1': shape(12, 768, 1, 12),
  'LightningDiT-B/2': shape(12, 768, 2, 12),
  'LightningDiT-L/2': shape(24, 1024, 2, 16),
  'LightningDiT-XL/1': shape(28, 1152, 1, 16),
  'LightningDiT-XL/2': shape(28, 1152, 2, 16),
  'LightningDiT-1p0B/1': shape(24, 1536, 1, 24),
  'LightningDiT-1p0B/2': shape(24, 1536, 2, 24),
  'LightningDiT-1p6B/1': shape(28, 1792, 1, 28),
  'LightningDiT-1p6B/2': shape(28, 1792, 2, 28),
  'LightningDiT-Ti/1': shape(6, 192, 1, 3),
  'LightningDiT-Ti/2': shape(6, 192, 2, 3),
  'LightningDiT-Nano/1': shape(2, 64, 1, 2),
  'LightningDiT-Nano/2': shape(2, 64, 2, 2),
});
