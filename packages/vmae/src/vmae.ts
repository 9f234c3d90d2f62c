/**
 * The Variational Masked AutoEncoder (VMAE): a ViT encoder over patches (optionally masked), a
 * per-token Gaussian bottleneck, and a ViT decoder that predicts every patch, followed by a 3x3
 * convolution over the RGB image.
 *
 * Module names (and so `stateDict()`) are exactly those of the reference PyTorch model, so its
 * checkpoints load by name.
 */
import {
  type Autoencoder,
  affine2d,
  Block,
  Conv2d,
  createRng,
  DiagonalGaussian,
  get2dSincosPosEmbed,
  type LatentNormalization,
  LayerNorm,
  Linear,
  type LoadResult,
  Module,
  ModuleList,
  matMul2d,
  normal,
  patchify,
  type Rng,
  reconstruct,
  resizePosEmbed,
  unpatchify,
} from '@ldmae/core';
import { type KlLossForm, klLoss, maskedPatchLoss } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import {
  DEFAULT_VMAE_PRESET,
  resolveVMAEConfig,
  type VMAEConfig,
  type VMAEConfigOverrides,
  type VMAEPresetName,
} from './config.js';
import { applyRangePolicy, checkImageShape, type InputRangePolicy } from './inputs.js';
import { keptRows, type MaskPlan, planMasking, restoreRows, selectRows, takeRows } from './masking.js';

/**
 * How the patch embedding is computed: 'matmul' (default; patchify, then one [B*L, p*p*C] x
 * [p*p*C, D] product, the fastest on wasm) or 'conv' (tf.conv2d with kernel = stride = p). Both use
 * the same `patch_embed.proj` weight and give the same numbers up to float rounding.
 */
export type PatchEmbedImpl = 'matmul' | 'conv';

/** Options of the {@link VMAE} constructor besides the config. */
export interface VMAEOptions {
  /** Source of the initial weights. Default createRng(0). */
  rng?: Rng;
  /** See {@link PatchEmbedImpl}. */
  patchEmbedImpl?: PatchEmbedImpl;
  /** See {@link InputRangePolicy}. Default 'throw'. */
  inputRange?: InputRangePolicy;
}

/** `patch_embed`: holds `proj`, a Conv2d(C -> D, kernel p, stride p) as the reference's timm PatchEmbed. */
class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(inChans: number, dim: number, p: number, rng: Rng) {
    super();
    // MAE initialises this kernel as a Linear: xavier on the [D, C*p*p] view.
    this.proj = this.registerModule(
      'proj',
      new Conv2d(inChans, dim, p, { rng, stride: p, init: 'xavier_uniform_flat' }),
    );
  }
}

/** `decoder_pred`: `linear_pred` per token, then `conv_smoother` (3x3, padding 1) on the RGB image. */
class DecoderPred extends Module {
  readonly linearPred: Linear;
  readonly convSmoother: Conv2d;
  constructor(dim: number, p: number, chans: number, rng: Rng) {
    super();
    this.linearPred = this.registerModule('linear_pred', new Linear(dim, p * p * chans, { rng }));
    // The reference leaves this conv at torch's default initialisation.
    this.convSmoother = this.registerModule(
      'conv_smoother',
      new Conv2d(chans, chans, 3, { rng, padding: 1, init: 'torch' }),
    );
  }
}

/** Where the masking noise comes from. */
export interface MaskingOptions {
  /** Fraction of tokens removed, in [0, 1). Default 0 (no masking). */
  maskRatio?: number;
  /** Draws the per-sample noise; required when maskRatio > 0 and no `noise` is given. */
  rng?: Rng;
  /** Explicit noise [B * L] (torch.rand(N, L) row-major), e.g. to replay a reference run. */
  noise?: ArrayLike<number>;
}

/** What {@link VMAE.forwardEncoder} returns; the caller owns `tokens`. */
export interface EncoderOutput {
  /** `[B, K, D]`: the encoder's normalised features of the kept tokens (all L without masking). */
  tokens: tf.Tensor3D;
  /** The masking plan, or null without masking. */
  plan: MaskPlan | null;
  /** Token grid [H / p, W / p]. */
  grid: [number, number];
}

/** A function or module that scores perceptual distance per sample: (x, y) -> [B] (or a scalar). */
export type LpipsLike =
  | ((x: tf.Tensor4D, y: tf.Tensor4D) => tf.Tensor)
  | { forward(x: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor };

/**
 * The KL forms (see @ldmae/losses' klLoss): the paper's 'unit-variance' (mean free, variance pulled
 * to 1), the released script's { fixedStd: 1e-3 }, or the 'standard' N(0, I) one.
 */
export type VMAEKlForm = KlLossForm;

/** Options of {@link VMAE.forward} (the training forward). Defaults are stage 1 of the recipe. */
export interface VMAEForwardOptions extends MaskingOptions {
  /** Fraction of tokens removed. Default 0.25. */
  maskRatio?: number;
  /** v in (1 - v) * L_M + v * L_R. Default 0.75. */
  visibleWeight?: number;
  /** lambda_kl. Default 1e-6. */
  klWeight?: number;
  /** Default 'unit-variance' (the paper's form); the released script uses { fixedStd: 1e-3 }. */
  klForm?: VMAEKlForm;
  /** Perceptual distance; none by default (then the LPIPS term is absent). */
  lpips?: LpipsLike | null;
  /** lambda_P. Default 0.5. */
  lpipsWeight?: number;
  /**
   * Decode a sample z = mean + std * eps (true, default; stage 1) or the posterior mean (false; what
   * the reference's decoder fine-tune does).
   */
  sample?: boolean;
  /** Range policy for this call (default: the model's). */
  inputRange?: InputRangePolicy;
}

/** Every term of the training objective; the caller owns every tensor. */
export interface VMAEForwardOutput {
  /** (1 - v) L_M + v L_R + lambda_P LPIPS + lambda_kl KL, a scalar. */
  loss: tf.Scalar;
  /** L_M: per-patch MSE averaged over masked patches (0 without masking). */
  masked: tf.Scalar;
  /** L_R: per-patch MSE averaged over visible patches. */
  visible: tf.Scalar;
  /** Mean LPIPS of the prediction against the input, or null without an LPIPS function. */
  lpips: tf.Scalar | null;
  /** KL over visible tokens, summed over channels, per visible token (the reference's reduction). */
  kl: tf.Scalar;
  /** The reconstruction [B, H, W, C] (masked regions predicted). */
  pred: tf.Tensor4D;
  /** [B, L], 1 = masked. */
  mask: tf.Tensor2D;
  /** The weights the loss used. */
  weights: { visible: number; lpips: number; kl: number };
}

/** The VMAE. Implements the {@link Autoencoder} contract (NHWC images in [-1, 1], NHWC latents). */
export class VMAE extends Module implements Autoencoder {
  readonly name = 'vmae';
  readonly config: VMAEConfig;
  /** Per-channel latent normalisation for the LDM; saved with the model. Null until computed. */
  latentNormalization: LatentNormalization | null = null;
  /** See {@link InputRangePolicy}. */
  inputRange: InputRangePolicy;
  patchEmbedImpl: PatchEmbedImpl;

  readonly patchEmbed: PatchEmbed;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  readonly toLatent: Linear;
  readonly fromLatent: Linear;
  readonly decoderEmbed: Linear;
  readonly maskToken: tf.Variable | null;
  readonly decoderBlocks: ModuleList<Block>;
  readonly decoderNorm: LayerNorm;
  readonly decoderPred: DecoderPred;

  /** Positional embeddings resized to other grids, by 'name:gh,gw'. */
  private readonly posCache = new Map<string, tf.Tensor>();

  constructor(config: VMAEConfig, opts: VMAEOptions = {}) {
    super();
    const cfg = resolveVMAEConfig(config);
    this.config = cfg;
    this.inputRange = opts.inputRange ?? 'throw';
    this.patchEmbedImpl = opts.patchEmbedImpl ?? 'matmul';
    if (this.patchEmbedImpl !== 'matmul' && this.patchEmbedImpl !== 'conv') {
      throw new Error(`VMAE: patchEmbedImpl must be 'matmul' or 'conv', got '${this.patchEmbedImpl}'`);
    }
    const rng = opts.rng ?? createRng(0);
    const { patchSize: p, inChans: c, embedDim: d, decoderEmbedDim: dd, latentDim: l } = cfg;
    const [gh, gw] = this.grid;
    const block = (dim: number, heads: number) =>
      new Block(dim, heads, { rng, mlpRatio: cfg.mlpRatio, qkvBias: true, eps: cfg.normEps });
    // The fixed sin-cos embeddings are persistent buffers: the reference saves them (and its stage 2
    // stores bilinearly resized ones), so loading takes them from the checkpoint.
    this.registerBuffer('pos_embed', tf.tensor3d(get2dSincosPosEmbed(d, [gh, gw]), [1, gh * gw, d]));
    this.maskToken = cfg.maskToken
      ? this.registerParameter('mask_token', normal(rng, [1, 1, dd], 0.02), { decay: false })
      : null;
    this.registerBuffer(
      'decoder_pos_embed',
      tf.tensor3d(get2dSincosPosEmbed(dd, [gh, gw]), [1, gh * gw, dd]),
    );
    this.toLatent = this.registerModule('to_latent', new Linear(d, 2 * l, { rng }));
    this.fromLatent = this.registerModule('from_latent', new Linear(l, d, { rng }));
    this.patchEmbed = this.registerModule('patch_embed', new PatchEmbed(c, d, p, rng));
    this.blocks = this.registerModule(
      'blocks',
      new ModuleList(Array.from({ length: cfg.depth }, () => block(d, cfg.numHeads))),
    );
    this.norm = this.registerModule('norm', new LayerNorm(d, { eps: cfg.normEps }));
    this.decoderEmbed = this.registerModule('decoder_embed', new Linear(d, dd, { rng }));
    this.decoderBlocks = this.registerModule(
      'decoder_blocks',
      new ModuleList(Array.from({ length: cfg.decoderDepth }, () => block(dd, cfg.decoderNumHeads))),
    );
    this.decoderNorm = this.registerModule('decoder_norm', new LayerNorm(dd, { eps: cfg.normEps }));
    this.decoderPred = this.registerModule('decoder_pred', new DecoderPred(dd, p, c, rng));
  }

  /** The token grid [H / p, W / p] of the configured image size. */
  get grid(): [number, number] {
    const { imgSize, patchSize: p } = this.config;
    return [imgSize[0] / p, imgSize[1] / p];
  }

  /** Latent shape [h, w, c] for an image shape [H, W, C]. */
  latentShape(imageShape: [number, number, number]): [number, number, number] {
    const [h, w, c] = imageShape;
    const p = this.config.patchSize;
    if (c !== this.config.inChans || h % p !== 0 || w % p !== 0 || h < 1 || w < 1) {
      throw new Error(
        `VMAE.latentShape: imageShape must be [H, W, ${this.config.inChans}] with H, W multiples of ${p}, got [${imageShape}]`,
      );
    }
    return [h / p, w / p, this.config.latentDim];
  }

  // ---------------------------------------------------------------------------------------------
  // Stages

  /** Images [B, H, W, C] -> patches [B, L, p*p*C] in (p, q, c) order. The caller owns the result. */
  patchify(images: tf.Tensor): tf.Tensor3D {
    return patchify(images, this.config.patchSize);
  }

  /** Patches [B, L, p*p*C] -> images [B, gh*p, gw*p, C]; square grids are inferred. */
  unpatchify(patches: tf.Tensor, grid?: [number, number]): tf.Tensor4D {
    return unpatchify(patches, this.config.patchSize, grid, this.config.inChans);
  }

  /**
   * MAE's random masking of a token sequence: keeps int(L * (1 - ratio)) tokens per sample, chosen by
   * argsort of per-sample uniform noise.
   * @param x [B, L, D].
   * @returns the kept tokens [B, K, D] (in shuffled order, as the reference), the mask [B, L]
   *   (1 = removed) and ids_restore [B, L] (int32) as tensors the caller owns, plus the CPU-side plan.
   */
  randomMasking(
    x: tf.Tensor,
    maskRatio: number,
    noise: Rng | ArrayLike<number>,
  ): { x: tf.Tensor3D; mask: tf.Tensor2D; idsRestore: tf.Tensor2D; plan: MaskPlan } {
    if (x.rank !== 3) throw new Error(`VMAE.randomMasking: x must be [B, L, D], got [${x.shape}]`);
    const [b, l] = x.shape as number[];
    const plan = planMasking(b, l, maskRatio, noise);
    return {
      x: this.keepTokens(x, plan),
      mask: tf.tensor2d(plan.mask, [b, l]),
      idsRestore: tf.tensor2d(plan.idsRestore, [b, l], 'int32'),
      plan,
    };
  }

  /**
   * Patch embedding plus the encoder's positional embedding: images [B, H, W, C] -> [B, L, D], or with
   * a masking plan only the kept tokens [B, K, D] in the plan's (shuffled) order.
   *
   * With a plan the rows are selected before the embedding (on the image patches and the fixed
   * positional embedding), which equals the reference's embed-then-select because both steps act per
   * token; the selection then needs no gradient and moves fewer numbers. Shapes are checked here,
   * values are not (see {@link VMAE.forwardEncoder}).
   */
  embed(images: tf.Tensor, plan: MaskPlan | null = null): tf.Tensor3D {
    const grid = checkImageShape(images, this.config.inChans, this.config.patchSize);
    const b = images.shape[0];
    const l = grid[0] * grid[1];
    if (plan && (plan.batch !== b || plan.tokens !== l)) {
      throw new Error(
        `VMAE.embed: masking plan is for [${plan.batch}, ${plan.tokens}] tokens, images give [${b}, ${l}]`,
      );
    }
    return this.embedTokens(images, grid, plan);
  }

  /** {@link VMAE.embed} of checked images. */
  private embedTokens(images: tf.Tensor, grid: [number, number], plan: MaskPlan | null): tf.Tensor3D {
    const { embedDim: d, patchSize: p, inChans: c } = this.config;
    const b = images.shape[0];
    const l = grid[0] * grid[1];
    return tf.tidy(() => {
      const proj = this.patchEmbed.proj;
      const pos = this.posEmbedFor('pos_embed', grid);
      if (this.patchEmbedImpl === 'conv') {
        const tokens = tf.add(tf.reshape(proj.forward(images), [b, l, d]), pos) as tf.Tensor3D;
        return plan ? this.keepTokens(tokens, plan) : tokens;
      }
      // The kernel [p, p, C, D] flattened row-major is indexed (kh * p + kw) * C + c: exactly the
      // (p, q, c) order of a patch vector, so no weight permutation is needed.
      const w = tf.reshape(proj.weight, [p * p * c, d]);
      let flat: tf.Tensor = tf.reshape(this.patchify(images), [b * l, p * p * c]);
      let posRows: tf.Tensor = pos;
      let n = l;
      if (plan) {
        flat = takeRows(flat, keptRows(plan));
        const ids = new Int32Array(b * plan.keep);
        for (let i = 0; i < b; i++)
          ids.set(plan.idsShuffle.subarray(i * l, i * l + plan.keep), i * plan.keep);
        posRows = tf.reshape(selectRows(tf.reshape(pos, [l, d]), ids), [b, plan.keep, d]);
        n = plan.keep;
      }
      return tf.add(tf.reshape(affine2d(flat, w, proj.bias!), [b, n, d]), posRows) as tf.Tensor3D;
    });
  }

  /**
   * The encoder: embed, mask (when maskRatio > 0), the encoder blocks and `norm`.
   * @param images [B, H, W, C] in [-1, 1], H and W multiples of p.
   */
  forwardEncoder(
    images: tf.Tensor,
    opts: MaskingOptions & { inputRange?: InputRangePolicy } = {},
  ): EncoderOutput {
    const grid = checkImageShape(images, this.config.inChans, this.config.patchSize);
    const plan = this.makePlan(images.shape[0], grid, opts.maskRatio ?? 0, opts);
    const x = applyRangePolicy(images, opts.inputRange ?? this.inputRange);
    try {
      return { tokens: this.encodeTokens(x, grid, plan), plan, grid };
    } finally {
      if (x !== images) x.dispose();
    }
  }

  /**
   * The decoder: `from_latent`, `decoder_embed`, mask tokens inserted and the sequence unshuffled
   * (with a plan), `decoder_pos_embed` added, the decoder blocks, `decoder_norm`, `linear_pred`,
   * unpatchify and `conv_smoother`. The reference returns patches; this returns the image, whose
   * patchify is the reference's output.
   * @param z latent tokens [B, K, latentDim] (K = plan.keep with a plan, else L = gh * gw).
   * @param plan the encoder's masking plan, or null.
   * @param grid token grid [gh, gw].
   * @returns images [B, gh * p, gw * p, C]; the caller owns it.
   */
  forwardDecoder(z: tf.Tensor, plan: MaskPlan | null, grid: [number, number]): tf.Tensor4D {
    const latentDim = this.config.latentDim;
    const l = grid[0] * grid[1];
    if (z.rank !== 3 || z.shape[2] !== latentDim) {
      throw new Error(`VMAE.forwardDecoder: z must be latent tokens [B, K, ${latentDim}], got [${z.shape}]`);
    }
    const b = z.shape[0];
    const k = plan ? plan.keep : l;
    if (z.shape[1] !== k || (plan && (plan.batch !== b || plan.tokens !== l))) {
      throw new Error(
        `VMAE.forwardDecoder: z has ${z.shape[1]} tokens for ${b} samples; the plan and grid [${grid}] need ${k}` +
          (plan ? ` (plan: ${plan.batch} samples of ${plan.tokens} tokens)` : ''),
      );
    }
    this.checkMaskToken(plan);
    return this.decodeTokens(z, plan, grid);
  }

  /** {@link VMAE.forwardDecoder} of checked latents. */
  private decodeTokens(z: tf.Tensor, plan: MaskPlan | null, grid: [number, number]): tf.Tensor4D {
    const dd = this.config.decoderEmbedDim;
    const b = z.shape[0];
    const l = grid[0] * grid[1];
    const k = plan ? plan.keep : l;
    return tf.tidy(() => {
      let h: tf.Tensor = this.decoderEmbed.forward(this.fromLatent.forward(z));
      if (plan && plan.keep < plan.tokens) {
        const rows = takeRows(tf.reshape(h, [b * k, dd]), restoreRows(plan));
        // mask (as a column) times mask_token (a row) puts the token on every masked row; as a product
        // its gradient is one untransposed matmul, not a reduction over the batch.
        const maskCol = tf.tensor2d(plan.mask, [b * l, 1]);
        const tokens = matMul2d(maskCol, tf.reshape(this.maskToken!, [1, dd]));
        h = tf.reshape(tf.add(rows, tokens), [b, l, dd]);
      } else if (plan) {
        h = tf.reshape(takeRows(tf.reshape(h, [b * l, dd]), restoreRows(plan)), [b, l, dd]);
      }
      h = tf.add(h, this.posEmbedFor('decoder_pos_embed', grid));
      for (const blk of this.decoderBlocks) h = blk.forward(h);
      h = this.decoderNorm.forward(h);
      const patches = this.decoderPred.linearPred.forward(h);
      return this.decoderPred.convSmoother.forward(this.unpatchify(patches, grid));
    });
  }

  /**
   * The posterior over latents of images x (no masking): mean and log-variance [B, H/p, W/p, latentDim]
   * (NHWC; log-variance clamped to [-30, 20]). The caller owns (and disposes) the distribution.
   */
  encode(x: tf.Tensor4D): DiagonalGaussian {
    const { tokens, grid } = this.forwardEncoder(x);
    const moments = tf.tidy(() => {
      const m = this.toLatent.forward(tokens);
      return tf.reshape(m, [x.shape[0], grid[0], grid[1], 2 * this.config.latentDim]);
    });
    tokens.dispose();
    const dist = DiagonalGaussian.fromMoments(moments);
    moments.dispose();
    return dist;
  }

  /** Images [B, h*p, w*p, C] from latents [B, h, w, latentDim] (NHWC). The caller owns the result. */
  decode(z: tf.Tensor4D): tf.Tensor4D {
    const l = this.config.latentDim;
    if (!(z instanceof tf.Tensor) || z.rank !== 4 || z.shape[3] !== l) {
      throw new Error(`VMAE.decode: z must be latents [B, h, w, ${l}] (NHWC), got [${z?.shape}]`);
    }
    const [b, h, w] = z.shape;
    return tf.tidy(() => this.decodeTokens(tf.reshape(z, [b, h * w, l]), null, [h, w]));
  }

  /** encode(x).mode() then decode: a deterministic reconstruction [B, H, W, C]. */
  reconstruct(x: tf.Tensor4D): tf.Tensor4D {
    return reconstruct(this, x);
  }

  /**
   * The training forward of stage 1 (defaults) or stage 3 (maskRatio 0, visibleWeight 1, klWeight 0,
   * sample false, lpipsWeight 10): every loss term and the prediction.
   * @param x images [B, H, W, C] in [-1, 1].
   */
  forward(x: tf.Tensor, opts: VMAEForwardOptions = {}): VMAEForwardOutput {
    const where = 'VMAE.forward';
    const grid = checkImageShape(x, this.config.inChans, this.config.patchSize);
    const v = opts.visibleWeight ?? 0.75;
    const klWeight = opts.klWeight ?? 1e-6;
    const lpWeight = opts.lpipsWeight ?? 0.5;
    const sample = opts.sample ?? true;
    const klForm = opts.klForm ?? 'unit-variance';
    for (const [name, w, max] of [
      ['visibleWeight', v, 1],
      ['klWeight', klWeight, Number.POSITIVE_INFINITY],
      ['lpipsWeight', lpWeight, Number.POSITIVE_INFINITY],
    ] as const) {
      if (!(Number.isFinite(w) ? w >= 0 && w <= max : false))
        throw new RangeError(`${where}: ${name} must be in [0, ${max}], got ${w}`);
    }
    if (!isKlForm(klForm)) {
      throw new Error(
        `${where}: klForm must be 'unit-variance', 'standard' or { fixedStd: s > 0 }, got ${JSON.stringify(klForm)}`,
      );
    }
    const lpips = opts.lpips ?? null;
    if (lpips !== null && typeof lpips !== 'function' && typeof lpips?.forward !== 'function') {
      throw new TypeError(
        `${where}: lpips must be a function (x, y) => distances or an object with forward(x, y)`,
      );
    }
    const ratio = opts.maskRatio ?? 0.25;
    const plan = this.makePlan(x.shape[0], grid, ratio, opts);
    this.checkMaskToken(plan);
    if (sample && !opts.rng) throw new Error(`${where}: sampling z needs opts.rng (or pass sample: false)`);
    const xr = applyRangePolicy(x, opts.inputRange ?? this.inputRange);
    const [b] = x.shape;
    const l = grid[0] * grid[1];
    try {
      const out = tf.tidy(() => {
        const tokens = this.encodeTokens(xr, grid, plan);
        const post = DiagonalGaussian.fromMoments(this.toLatent.forward(tokens));
        // Over the visible tokens only (the encoder saw nothing else), per visible token.
        const kl = klLoss(post, { form: klForm, reduction: 'per-token' }) as tf.Scalar;
        const z = sample ? post.sample(opts.rng!) : post.mode();
        const pred = this.decodeTokens(z, plan, grid);
        const mask = plan ? tf.tensor2d(plan.mask, [b, l]) : tf.zeros([b, l]);
        const pix = maskedPatchLoss(this.patchify(pred), this.patchify(xr), mask, { visibleWeight: v });
        const { masked, visible } = pix;
        let loss: tf.Tensor = pix.total;
        let lp: tf.Scalar | undefined;
        if (lpips) {
          const dist =
            typeof lpips === 'function'
              ? lpips(pred, xr as tf.Tensor4D)
              : lpips.forward(pred, xr as tf.Tensor4D);
          lp = tf.mean(dist) as tf.Scalar;
          if (lpWeight > 0) loss = tf.add(loss, tf.mul(lp, lpWeight));
        }
        if (klWeight > 0) loss = tf.add(loss, tf.mul(kl, klWeight));
        return { loss: loss as tf.Scalar, masked, visible, lp, kl, pred, mask: mask as tf.Tensor2D };
      });
      const { lp, ...terms } = out;
      return {
        ...terms,
        lpips: lp ?? null,
        weights: { visible: v, lpips: lpips ? lpWeight : 0, kl: klWeight },
      };
    } finally {
      if (xr !== x) xr.dispose();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Resolution

  /**
   * Stage 2 of the recipe: resize both positional embeddings bilinearly to a new image size (as the
   * reference's pe_reset.py), and make it the model's configured size.
   */
  setImageSize(size: number | [number, number]): void {
    const next = resolveVMAEConfig(this.config, { imgSize: size });
    const p = this.config.patchSize;
    const to: [number, number] = [next.imgSize[0] / p, next.imgSize[1] / p];
    const from = this.grid;
    if (to[0] === from[0] && to[1] === from[1]) return;
    for (const name of ['pos_embed', 'decoder_pos_embed']) {
      this.setBuffer(
        name,
        tf.tidy(() => resizePosEmbed(this.getTensor(name), from, to)),
      );
    }
    (this.config as { imgSize: [number, number] }).imgSize = next.imgSize;
    this.clearPosCache();
  }

  /** Module.loadStateDict; also forgets positional embeddings resized from the old values. */
  override loadStateDict(dict: Record<string, tf.Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const r = super.loadStateDict(dict, opts);
    this.clearPosCache();
    return r;
  }

  override dispose(): void {
    this.clearPosCache();
    super.dispose();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** The positional embedding `name` for `grid`: the stored one, or a cached bilinear resize of it. */
  private posEmbedFor(name: 'pos_embed' | 'decoder_pos_embed', grid: [number, number]): tf.Tensor {
    const own = this.grid;
    if (grid[0] === own[0] && grid[1] === own[1]) return this.getTensor(name);
    const key = `${name}:${grid[0]},${grid[1]}`;
    let t = this.posCache.get(key);
    if (!t) {
      t = tf.keep(tf.tidy(() => resizePosEmbed(this.getTensor(name), own, grid)));
      this.posCache.set(key, t);
    }
    return t;
  }

  private clearPosCache(): void {
    for (const t of this.posCache.values()) t.dispose();
    this.posCache.clear();
  }

  /** The masking plan of a door's options (null without masking); checks the ratio and the noise source. */
  private makePlan(
    batch: number,
    grid: [number, number],
    ratio: number,
    opts: MaskingOptions,
  ): MaskPlan | null {
    if (!(Number.isFinite(ratio) && ratio >= 0 && ratio < 1))
      throw new RangeError(`VMAE: maskRatio must be in [0, 1), got ${ratio}`);
    if (ratio === 0 && opts.noise === undefined) return null;
    const source = opts.noise ?? opts.rng;
    if (!source) throw new Error(`VMAE: masking (maskRatio ${ratio}) needs opts.rng or opts.noise`);
    return planMasking(batch, grid[0] * grid[1], ratio, source);
  }

  private checkMaskToken(plan: MaskPlan | null): void {
    if (plan && plan.keep < plan.tokens && !this.maskToken) {
      throw new Error(
        'VMAE: masked decoding needs a mask_token, and this model has none ' +
          "(an 'ldmae-mode' checkpoint); create the model with maskToken: true to train with masking",
      );
    }
  }

  /** Embed, mask with `plan`, encoder blocks, `norm`: [B, K, D]. Shapes and values are checked by callers. */
  private encodeTokens(x: tf.Tensor, grid: [number, number], plan: MaskPlan | null): tf.Tensor3D {
    return tf.tidy(() => {
      let h: tf.Tensor = this.embedTokens(x, grid, plan);
      for (const blk of this.blocks) h = blk.forward(h);
      return this.norm.forward(h) as tf.Tensor3D;
    });
  }

  /** The kept rows of tokens [B, L, D] that match `plan`. */
  private keepTokens(x: tf.Tensor, plan: MaskPlan): tf.Tensor3D {
    const [b, l, d] = x.shape as number[];
    return tf.tidy(
      () => tf.reshape(takeRows(tf.reshape(x, [b * l, d]), keptRows(plan)), [b, plan.keep, d]) as tf.Tensor3D,
    );
  }
}

function isKlForm(form: unknown): boolean {
  if (form === 'unit-variance' || form === 'standard') return true;
  const s = (form as { fixedStd?: unknown } | null)?.fixedStd;
  return typeof s === 'number' && Number.isFinite(s) && s > 0;
}

/**
 * A VMAE from a preset name (or config) and overrides, e.g. `createVMAE('f4d4-tiny', { imgSize: 28 })`.
 * @param preset default {@link DEFAULT_VMAE_PRESET} ('f4d4-tiny', CPU-sized); the paper's model is 'f8d16'.
 */
export function createVMAE(
  preset: VMAEPresetName | VMAEConfig = DEFAULT_VMAE_PRESET,
  overrides: VMAEConfigOverrides = {},
  opts: VMAEOptions = {},
): VMAE {
  return new VMAE(resolveVMAEConfig(preset, overrides), opts);
}
