/**
 * VMAE architecture configuration, the preset table, and the closed-form parameter count.
 */

/** Everything that fixes a VMAE's shapes. Images are `imgSize`, split into `patchSize` squares. */
export interface VMAEConfig {
  /** [H, W] the positional embeddings are laid out for (other sizes resize them on the fly). */
  imgSize: [number, number];
  /** Side p of the square patches; the latent grid is [H / p, W / p]. */
  patchSize: number;
  /** Image channels (3: RGB in [-1, 1]). */
  inChans: number;
  /** Encoder width, depth and heads. */
  embedDim: number;
  depth: number;
  numHeads: number;
  /** Decoder width, depth and heads. */
  decoderEmbedDim: number;
  decoderDepth: number;
  decoderNumHeads: number;
  /** MLP hidden width = int(width * mlpRatio). */
  mlpRatio: number;
  /** Latent channels per token (the posterior has 2x: mean and log-variance). */
  latentDim: number;
  /** Epsilon of every LayerNorm (MAE's partial(nn.LayerNorm, eps=1e-6)). */
  normEps: number;
  /**
   * Whether the model holds the learned `mask_token` that masked training needs. Stage-1 checkpoints
   * have it; the reference's decoder fine-tune ("ldmae mode") and its released weights do not.
   */
  maskToken: boolean;
}

/** What a preset fixes: everything but `maskToken`, with the image size as one number or [H, W]. */
export type VMAEPreset = Omit<VMAEConfig, 'maskToken' | 'imgSize'> & {
  imgSize: number | [number, number];
  /** One line for docs and `--help`. */
  description: string;
};

/** Names of the built-in presets. */
export type VMAEPresetName = 'f8d16' | 'f8d16-small' | 'f4d8-mini' | 'f4d4-tiny';

const common = { inChans: 3, mlpRatio: 4, normEps: 1e-6 };

/**
 * The presets. `f8d16` is the paper's model (the reference's `mae_for_ldmae_f8d16_prev`, trained at
 * 128 px and fine-tuned at 256 px); `f8d16-small` is the reference's `mae_for_ldmae_f8d16_small`;
 * `f4d8-mini` and `f4d4-tiny` are small configurations that train on a 2-core CPU.
 */
export const VMAE_PRESETS: Readonly<Record<VMAEPresetName, Readonly<VMAEPreset>>> = {
  f8d16: {
    ...common,
    description: "The paper's VMAE: patch 8, 16 latent channels, 12+12 blocks of width 192 (256 px)",
    imgSize: 256,
    patchSize: 8,
    embedDim: 192,
    depth: 12,
    numHeads: 12,
    decoderEmbedDim: 192,
    decoderDepth: 12,
    decoderNumHeads: 12,
    latentDim: 16,
  },
  'f8d16-small': {
    ...common,
    description: "The reference's half-width variant: 12+12 blocks of width 96, 8 heads (256 px)",
    imgSize: 256,
    patchSize: 8,
    embedDim: 96,
    depth: 12,
    numHeads: 8,
    decoderEmbedDim: 96,
    decoderDepth: 12,
    decoderNumHeads: 8,
    latentDim: 16,
  },
  'f4d8-mini': {
    ...common,
    description: 'CPU-sized: patch 4, 8 latent channels, 4+4 blocks of width 128 (32 px, CIFAR-like)',
    imgSize: 32,
    patchSize: 4,
    embedDim: 128,
    depth: 4,
    numHeads: 4,
    decoderEmbedDim: 128,
    decoderDepth: 4,
    decoderNumHeads: 4,
    latentDim: 8,
  },
  'f4d4-tiny': {
    ...common,
    description:
      'Test-sized: patch 4, 4 latent channels, 2+2 blocks of width 64, 2 heads (32 px; MNIST at 28)',
    imgSize: 32,
    patchSize: 4,
    embedDim: 64,
    depth: 2,
    numHeads: 2,
    decoderEmbedDim: 64,
    decoderDepth: 2,
    decoderNumHeads: 2,
    latentDim: 4,
  },
};

/**
 * The default preset: what `createVMAE()` builds without a preset. 'f4d4-tiny' (219,724 numbers,
 * 32 px; 28 px digits with `{ imgSize: 28 }`) is sized for a CPU, as the CLI's default; the paper's
 * model is 'f8d16'.
 */
export const DEFAULT_VMAE_PRESET: VMAEPresetName = 'f4d4-tiny';

/** Overrides accepted by {@link resolveVMAEConfig}: any field, the image size as a number or [H, W]. */
export type VMAEConfigOverrides = Partial<Omit<VMAEConfig, 'imgSize'>> & {
  imgSize?: number | [number, number];
};

function sizePair(v: number | [number, number]): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new RangeError(
      `VMAEConfig: imgSize must be a positive integer or [H, W], got ${JSON.stringify(v)}`,
    );
  }
  return [p[0], p[1]];
}

/**
 * A full, validated config from a preset name (or a full config) plus overrides.
 * `maskToken` defaults to true (a model that can be trained with masking).
 */
export function resolveVMAEConfig(
  preset: VMAEPresetName | VMAEConfig,
  overrides: VMAEConfigOverrides = {},
): VMAEConfig {
  let base: Omit<VMAEConfig, 'imgSize'> & { imgSize: number | [number, number] };
  if (typeof preset === 'string') {
    if (!Object.hasOwn(VMAE_PRESETS, preset)) {
      throw new RangeError(
        `resolveVMAEConfig: unknown preset '${preset}' (known: ${Object.keys(VMAE_PRESETS).join(', ')})`,
      );
    }
    const { description: _d, ...rest } = VMAE_PRESETS[preset];
    base = { ...rest, maskToken: true };
  } else if (preset && typeof preset === 'object') base = { ...preset };
  else throw new TypeError('resolveVMAEConfig: preset must be a preset name or a VMAEConfig');
  const merged = { ...base, ...overrides };
  const { imgSize } = merged;
  // checkVMAEConfig validates the pair.
  const cfg: VMAEConfig = { ...merged, imgSize: typeof imgSize === 'number' ? [imgSize, imgSize] : imgSize };
  checkVMAEConfig(cfg);
  return cfg;
}

/** Throw a RangeError naming the first invalid field of `cfg`. */
export function checkVMAEConfig(cfg: VMAEConfig): void {
  const where = 'VMAEConfig';
  const posInt = (name: keyof VMAEConfig) => {
    const v = cfg[name] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new RangeError(`${where}: ${name} must be a positive integer, got ${String(v)}`);
  };
  for (const k of [
    'patchSize',
    'inChans',
    'embedDim',
    'depth',
    'numHeads',
    'decoderEmbedDim',
    'decoderDepth',
    'decoderNumHeads',
    'latentDim',
  ] as const)
    posInt(k);
  const [h, w] = sizePair(cfg.imgSize);
  const p = cfg.patchSize;
  if (h % p !== 0 || w % p !== 0) {
    throw new RangeError(`${where}: imgSize [${h}, ${w}] must be divisible by patchSize ${p}`);
  }
  for (const [dim, heads, name] of [
    [cfg.embedDim, cfg.numHeads, 'embedDim / numHeads'],
    [cfg.decoderEmbedDim, cfg.decoderNumHeads, 'decoderEmbedDim / decoderNumHeads'],
  ] as const) {
    if (dim % heads !== 0)
      throw new RangeError(`${where}: ${name} must divide evenly, got ${dim} / ${heads}`);
    // The fixed 2-D sin-cos embedding splits the width into four equal parts.
    if (dim % 4 !== 0)
      throw new RangeError(`${where}: ${name.split(' ')[0]} must be a multiple of 4, got ${dim}`);
  }
  if (!(Number.isFinite(cfg.mlpRatio) && cfg.mlpRatio > 0))
    throw new RangeError(`${where}: mlpRatio must be > 0, got ${cfg.mlpRatio}`);
  if (!(Number.isFinite(cfg.normEps) && cfg.normEps >= 0))
    throw new RangeError(`${where}: normEps must be >= 0, got ${cfg.normEps}`);
  if (typeof cfg.maskToken !== 'boolean')
    throw new TypeError(`${where}: maskToken must be a boolean, got ${String(cfg.maskToken)}`);
}

/** Scalars of one pre-LN ViT block of width d (LayerNorms, qkv, proj, two-layer MLP, all with biases). */
function blockNumbers(d: number, mlpRatio: number): number {
  const hidden = Math.trunc(d * mlpRatio);
  return 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
}

/**
 * Closed-form count of the numbers a VMAE holds: every parameter plus, with `includePosEmbed` (default
 * true, as the paper's "42.7 MB" counts them), the two fixed positional embeddings. The mask token is
 * counted when `cfg.maskToken` is set. f8d16 at 256 px without mask token: 11,191,412.
 */
export function countVMAENumbers(cfg: VMAEConfig, opts: { includePosEmbed?: boolean } = {}): number {
  checkVMAEConfig(cfg);
  const { patchSize: p, inChans: c, embedDim: d, decoderEmbedDim: dd, latentDim: l } = cfg;
  const tokens = (cfg.imgSize[0] / p) * (cfg.imgSize[1] / p);
  const lin = (i: number, o: number) => i * o + o;
  let n = c * p * p * d + d; // patch_embed.proj
  n += cfg.depth * blockNumbers(d, cfg.mlpRatio) + 2 * d; // blocks + norm
  n += lin(d, 2 * l) + lin(l, d) + lin(d, dd); // to_latent, from_latent, decoder_embed
  n += cfg.decoderDepth * blockNumbers(dd, cfg.mlpRatio) + 2 * dd; // decoder_blocks + decoder_norm
  n += lin(dd, p * p * c) + (c * c * 9 + c); // decoder_pred.linear_pred + conv_smoother
  if (cfg.maskToken) n += dd;
  if (opts.includePosEmbed ?? true) n += tokens * (d + dd);
  return n;
}
