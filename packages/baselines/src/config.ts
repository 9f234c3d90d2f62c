/**
 * Configuration of the AutoencoderKL (diffusers' names in camelCase), the presets, and the exact
 * parameter count derived from the reference layer list.
 */

/**
 * The architecture of an {@link AutoencoderKL}, diffusers' `AutoencoderKL(...)` arguments in camelCase.
 * Fixed as in the reference: DownEncoderBlock2D / UpDecoderBlock2D blocks, SiLU, GroupNorm eps 1e-6,
 * one attention head as wide as the last level in each mid-block.
 */
export interface AutoencoderKLConfig {
  /** Image channels in (diffusers `in_channels`). */
  inChannels: number;
  /** Image channels out (`out_channels`). */
  outChannels: number;
  /** Channels of each level (`block_out_channels`); n levels give a downsampling factor 2^(n-1). */
  blockOutChannels: number[];
  /** ResNet blocks per encoder level (`layers_per_block`); decoder levels get one more. */
  layersPerBlock: number;
  /** Latent channels (`latent_channels`); the encoder outputs twice as many (mean and logvar). */
  latentChannels: number;
  /** Groups of every GroupNorm (`norm_num_groups`); each level's channels must be divisible by it. */
  normNumGroups: number;
  /** 1x1 conv on the moments after the encoder (`use_quant_conv`; SD 1/2/XL true, SD3 false). */
  useQuantConv: boolean;
  /** 1x1 conv on the latent before the decoder (`use_post_quant_conv`). */
  usePostQuantConv: boolean;
  /** Self-attention in the encoder's and decoder's mid-block (`mid_block_add_attention`). */
  midBlockAddAttention: boolean;
}

/**
 * Names of the built-in presets: `f<factor>d<latent channels>-<size>` as the VMAE presets
 * (`f4d4-tiny`, ...); the two that reproduce Stable Diffusion's VAE layouts are prefixed with the
 * layout they copy (`sd3-f8d16`, `sd-f8d4`).
 */
export type AutoencoderKLPresetName = 'sd3-f8d16' | 'sd-f8d4' | 'f4d4-tiny' | 'f8d4-tiny' | 'f4d4-micro';

/**
 * Former names of presets, still accepted wherever a preset name is (they resolve to the same
 * configuration); see {@link AUTOENCODER_KL_PRESET_ALIASES}.
 * @deprecated Use the {@link AutoencoderKLPresetName} they map to: 'tiny-f4d4' is 'f4d4-tiny',
 * 'tiny-f8d4' is 'f8d4-tiny', 'micro-f4d4' is 'f4d4-micro'.
 */
export type AutoencoderKLPresetAlias = 'tiny-f4d4' | 'tiny-f8d4' | 'micro-f4d4';

/**
 * The default preset: what `new AutoencoderKL()` and `createBaseline(kind)` build when given neither
 * `preset` nor a full `config`. 'f4d4-tiny' (242,235 parameters, 28 or 32 px images -> 7x7x4 or
 * 8x8x4 latents) is sized for a CPU and MNIST-like digits, as the CLI's default; the paper's baseline
 * is `preset: 'sd3-f8d16'` (83,819,683 parameters).
 */
export const DEFAULT_BASELINE_PRESET: AutoencoderKLPresetName = 'f4d4-tiny';

/** A preset: the architecture plus what it is for. */
export interface AutoencoderKLPreset {
  config: AutoencoderKLConfig;
  /** Spatial downsampling factor 2^(levels - 1). */
  factor: number;
  /** Where the numbers come from / what the preset is for. */
  description: string;
}

const SD_BLOCKS = [128, 256, 512, 512];

/**
 * A preset around `c`, with what every preset has: RGB in and out, self-attention in both mid-blocks,
 * quant convs only when `quantConvs` is set, and the factor its levels give.
 */
const preset = (
  description: string,
  c: Pick<AutoencoderKLConfig, 'blockOutChannels' | 'layersPerBlock' | 'latentChannels' | 'normNumGroups'> & {
    quantConvs?: boolean;
  },
): AutoencoderKLPreset => {
  const { quantConvs = false, ...rest } = c;
  return {
    config: {
      inChannels: 3,
      outChannels: 3,
      ...rest,
      useQuantConv: quantConvs,
      usePostQuantConv: quantConvs,
      midBlockAddAttention: true,
    },
    factor: 2 ** (c.blockOutChannels.length - 1),
    description,
  };
};

/**
 * The presets. 'sd3-f8d16' is the baseline of the paper (the configuration the authors' LDMAE code
 * builds for its AE, DAE, VAE and SD-VAE: SD3's VAE layout, 83,819,683 parameters = 319.7 MiB in
 * float32); 'sd-f8d4' is the SD 1.x / 2.x / XL layout (4 latent channels, with quant convs) for
 * importing those VAEs; 'f4d4-tiny' ({@link DEFAULT_BASELINE_PRESET}), 'f8d4-tiny' and 'f4d4-micro'
 * keep the structure at widths a 2-core CPU can train.
 */
export const AUTOENCODER_KL_PRESETS: Readonly<Record<AutoencoderKLPresetName, AutoencoderKLPreset>> = {
  'sd3-f8d16': preset("SD3's VAE layout, the paper's baseline (f8, 16 latent channels, no quant convs)", {
    blockOutChannels: SD_BLOCKS,
    layersPerBlock: 2,
    latentChannels: 16,
    normNumGroups: 32,
  }),
  'sd-f8d4': preset('SD 1.x / 2.x / XL VAE layout (f8, 4 latent channels, quant convs), for imports', {
    blockOutChannels: SD_BLOCKS,
    layersPerBlock: 2,
    latentChannels: 4,
    normNumGroups: 32,
    quantConvs: true,
  }),
  'f4d4-tiny': preset('MNIST-sized (28 or 32 px -> 7x7 or 8x8x4 latents), trainable on a 2-core CPU', {
    blockOutChannels: [16, 32, 32],
    layersPerBlock: 1,
    latentChannels: 4,
    normNumGroups: 8,
  }),
  'f8d4-tiny': preset('f8 like the paper at CPU widths (32 px -> 4x4x4, 64 px -> 8x8x4)', {
    blockOutChannels: [16, 32, 32, 32],
    layersPerBlock: 1,
    latentChannels: 4,
    normNumGroups: 8,
  }),
  'f4d4-micro': preset('the smallest useful model: unit tests, benchmarks of the training step', {
    blockOutChannels: [8, 16, 16],
    layersPerBlock: 1,
    latentChannels: 4,
    normNumGroups: 4,
  }),
};

/** The names of {@link AUTOENCODER_KL_PRESETS} (the canonical names; aliases are not listed). */
export const AUTOENCODER_KL_PRESET_NAMES = Object.keys(AUTOENCODER_KL_PRESETS) as AutoencoderKLPresetName[];

/**
 * The former preset names, deprecated, and the preset each stands for (the same configuration).
 * Every function that takes a preset name accepts them; new code should use the canonical names.
 */
export const AUTOENCODER_KL_PRESET_ALIASES: Readonly<
  Record<AutoencoderKLPresetAlias, AutoencoderKLPresetName>
> = Object.freeze({
  'tiny-f4d4': 'f4d4-tiny',
  'tiny-f8d4': 'f8d4-tiny',
  'micro-f4d4': 'f4d4-micro',
});

/**
 * The canonical name of a preset: `name` itself, or the preset a deprecated alias stands for
 * ('tiny-f4d4' -> 'f4d4-tiny').
 * @param name a preset name or alias.
 * @param where what to name in the error (default 'preset').
 * @throws RangeError naming `where` and listing the canonical names when `name` is neither.
 */
export function resolveAutoencoderKLPresetName(name: string, where = 'preset'): AutoencoderKLPresetName {
  if (typeof name === 'string') {
    if (Object.hasOwn(AUTOENCODER_KL_PRESETS, name)) return name as AutoencoderKLPresetName;
    if (Object.hasOwn(AUTOENCODER_KL_PRESET_ALIASES, name))
      return AUTOENCODER_KL_PRESET_ALIASES[name as AutoencoderKLPresetAlias];
  }
  throw new RangeError(
    `${where} must be one of ${AUTOENCODER_KL_PRESET_NAMES.join(', ')}, got ${typeof name === 'string' ? `'${name}'` : String(name)}`,
  );
}

/**
 * A copy of a preset's configuration, with `overrides` applied and checked.
 * @param preset a preset name (a deprecated alias such as 'tiny-f4d4' resolves to its preset).
 * @throws RangeError listing the preset names for an unknown `preset`, or naming the first bad field.
 */
export function autoencoderKLConfig(
  preset: AutoencoderKLPresetName | AutoencoderKLPresetAlias,
  overrides: Partial<AutoencoderKLConfig> = {},
): AutoencoderKLConfig {
  const p = AUTOENCODER_KL_PRESETS[resolveAutoencoderKLPresetName(preset, 'autoencoderKLConfig: preset')];
  const c = { ...p.config, blockOutChannels: [...p.config.blockOutChannels], ...overrides };
  checkAutoencoderKLConfig(c);
  return c;
}

const positiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** Throws a RangeError naming the first bad field of `c`. */
export function checkAutoencoderKLConfig(c: AutoencoderKLConfig): void {
  if (!c || typeof c !== 'object') throw new TypeError('AutoencoderKLConfig: expected an object');
  for (const k of [
    'inChannels',
    'outChannels',
    'layersPerBlock',
    'latentChannels',
    'normNumGroups',
  ] as const) {
    if (!positiveInt(c[k]))
      throw new RangeError(`AutoencoderKLConfig: ${k} must be a positive integer, got ${c[k]}`);
  }
  const b = c.blockOutChannels;
  if (!Array.isArray(b) || b.length === 0 || !b.every(positiveInt)) {
    throw new RangeError(
      `AutoencoderKLConfig: blockOutChannels must be a non-empty array of positive integers, got ${JSON.stringify(b)}`,
    );
  }
  const bad = b.find((ch) => ch % c.normNumGroups !== 0);
  if (bad !== undefined) {
    throw new RangeError(
      `AutoencoderKLConfig: every blockOutChannels entry must be divisible by normNumGroups (${c.normNumGroups}), got ${bad}`,
    );
  }
  for (const k of ['useQuantConv', 'usePostQuantConv', 'midBlockAddAttention'] as const) {
    if (typeof c[k] !== 'boolean')
      throw new TypeError(`AutoencoderKLConfig: ${k} must be a boolean, got ${c[k]}`);
  }
}

/** The downsampling factor 2^(levels - 1) of a configuration. */
export function downsamplingFactor(c: AutoencoderKLConfig): number {
  return 2 ** (c.blockOutChannels.length - 1);
}

const conv = (cin: number, cout: number, k: number) => cout * cin * k * k + cout;
const groupNorm = (ch: number) => 2 * ch;
const linear = (cin: number, cout: number) => cin * cout + cout;
const resnet = (cin: number, cout: number) =>
  groupNorm(cin) +
  conv(cin, cout, 3) +
  groupNorm(cout) +
  conv(cout, cout, 3) +
  (cin !== cout ? conv(cin, cout, 1) : 0);
const attention = (ch: number) => groupNorm(ch) + 4 * linear(ch, ch);
const midBlock = (ch: number, attn: boolean) => 2 * resnet(ch, ch) + (attn ? attention(ch) : 0);

/**
 * Trainable parameters of an AutoencoderKL, counted from diffusers' layer list (Conv2d weight +
 * bias, GroupNorm weight + bias, Linear weight + bias): 83,819,683 for 'sd3-f8d16',
 * 83,653,863 for 'sd-f8d4'.
 */
export function autoencoderKLParameterCount(c: AutoencoderKLConfig): number {
  checkAutoencoderKLConfig(c);
  const b = c.blockOutChannels;
  const last = b[b.length - 1];
  let enc = conv(c.inChannels, b[0], 3);
  let prev = b[0];
  b.forEach((ch, i) => {
    enc += resnet(prev, ch) + (c.layersPerBlock - 1) * resnet(ch, ch);
    if (i < b.length - 1) enc += conv(ch, ch, 3);
    prev = ch;
  });
  enc += midBlock(last, c.midBlockAddAttention) + groupNorm(last) + conv(last, 2 * c.latentChannels, 3);
  let dec = conv(c.latentChannels, last, 3) + midBlock(last, c.midBlockAddAttention);
  const rev = [...b].reverse();
  prev = last;
  rev.forEach((ch, i) => {
    dec += resnet(prev, ch) + c.layersPerBlock * resnet(ch, ch);
    if (i < rev.length - 1) dec += conv(ch, ch, 3);
    prev = ch;
  });
  dec += groupNorm(b[0]) + conv(b[0], c.outChannels, 3);
  const quant = c.useQuantConv ? conv(2 * c.latentChannels, 2 * c.latentChannels, 1) : 0;
  const postQuant = c.usePostQuantConv ? conv(c.latentChannels, c.latentChannels, 1) : 0;
  return enc + dec + quant + postQuant;
}
