/**
 * Loading VAE weights by name: diffusers' AutoencoderKL state dicts (current and older attention
 * names), original LDM / Stable Diffusion ("CompVis") VAE state dicts, either bare or under a prefix
 * (`first_stage_model.`, `vae.`, `model.`, ...), and diffusers' `config.json`.
 */
import type { LatentNormalization, LoadResult } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { AutoencoderKL, type AutoencoderKLOptions } from './autoencoder-kl.js';
import { type AutoencoderKLConfig, checkAutoencoderKLConfig } from './config.js';

/**
 * How a state dict names the VAE's weights: 'diffusers' (to_q / to_k / to_v / to_out.0),
 * 'diffusers-legacy' (diffusers before 0.14: query / key / value / proj_attn) or 'ldm' (the original
 * Stable Diffusion / LDM code: `encoder.down.{i}.block.{j}`, `mid.attn_1.q`, `norm_out`, ...).
 */
export type VaeKeyLayout = 'diffusers' | 'diffusers-legacy' | 'ldm';

/** How the keys of a foreign state dict map onto diffusers' names. */
export interface VaeKeyMapping {
  layout: VaeKeyLayout;
  /** Prefix in front of the VAE's keys ('' when bare), e.g. 'first_stage_model.'. */
  prefix: string;
  /** Source key -> diffusers key, for every key that belongs to the VAE. */
  map: Map<string, string>;
  /** Keys that are not VAE weights (a loss's discriminator, a UNet, ...), left out. */
  ignored: string[];
}

const LEGACY_ATTENTION: [RegExp, string][] = [
  [/\.attentions\.(\d+)\.query\./, '.attentions.$1.to_q.'],
  [/\.attentions\.(\d+)\.key\./, '.attentions.$1.to_k.'],
  [/\.attentions\.(\d+)\.value\./, '.attentions.$1.to_v.'],
  [/\.attentions\.(\d+)\.proj_attn\./, '.attentions.$1.to_out.0.'],
];

const LDM_ATTENTION: Record<string, string> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};

/** diffusers' name of an LDM resnet part (LDM's `nin_shortcut` is diffusers' `conv_shortcut`). */
const resnetPart = (part: string) => (part === 'nin_shortcut' ? 'conv_shortcut' : part);

/** The diffusers name of one LDM-layout key (without prefix), or null when it is not a VAE weight. */
function ldmKey(key: string, levels: number): string | null {
  if (/^((encoder|decoder)\.(conv_in|conv_out)|quant_conv|post_quant_conv)\.(weight|bias)$/.test(key))
    return key;
  let m = /^(encoder|decoder)\.norm_out\.(weight|bias)$/.exec(key);
  if (m) return `${m[1]}.conv_norm_out.${m[2]}`;
  m = /^(encoder|decoder)\.mid\.block_([12])\.(norm1|conv1|norm2|conv2|nin_shortcut)\.(weight|bias)$/.exec(
    key,
  );
  if (m) return `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${resnetPart(m[3])}.${m[4]}`;
  m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/.exec(key);
  if (m) return `${m[1]}.mid_block.attentions.0.${LDM_ATTENTION[m[2]]}.${m[3]}`;
  m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(norm1|conv1|norm2|conv2|nin_shortcut)\.(weight|bias)$/.exec(key);
  if (m) return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${resnetPart(m[3])}.${m[4]}`;
  m = /^encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)$/.exec(key);
  if (m) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  // LDM numbers the decoder's levels from the highest resolution; diffusers from the lowest.
  m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(norm1|conv1|norm2|conv2|nin_shortcut)\.(weight|bias)$/.exec(key);
  if (m) return `decoder.up_blocks.${levels - 1 - Number(m[1])}.resnets.${m[2]}.${resnetPart(m[3])}.${m[4]}`;
  m = /^decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)$/.exec(key);
  if (m) return `decoder.up_blocks.${levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  return null;
}

const DIFFUSERS_VAE_KEY = /^(encoder|decoder)\.|^(quant_conv|post_quant_conv)\.(weight|bias)$/;

/**
 * Work out the layout and prefix of a VAE state dict from its keys and map every VAE key to
 * diffusers' name. The prefix is found from where `encoder.conv_in.weight` sits; throws when no key
 * ends with it.
 */
export function vaeKeyMapping(keys: Iterable<string>): VaeKeyMapping {
  const all = [...keys];
  const anchor = all.filter((k) => /(^|\.)encoder\.conv_in\.weight$/.test(k));
  if (anchor.length === 0) {
    throw new Error(
      `vaeKeyMapping: no 'encoder.conv_in.weight' among ${all.length} keys; not an AutoencoderKL state dict (first keys: ${all.slice(0, 5).join(', ')})`,
    );
  }
  // The shortest prefix wins: 'first_stage_model.' rather than some deeper copy.
  const prefix = anchor
    .map((k) => k.slice(0, -'encoder.conv_in.weight'.length))
    .sort((a, b) => a.length - b.length)[0];
  const own = all.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  const layout: VaeKeyLayout = own.some((k) => /^encoder\.down\.\d+\./.test(k))
    ? 'ldm'
    : own.some((k) => /\.attentions\.\d+\.(query|key|value|proj_attn)\./.test(k))
      ? 'diffusers-legacy'
      : 'diffusers';
  // LDM's decoder levels (only the 'ldm' layout uses them): one more than the highest `decoder.up.<i>`.
  let levels = 0;
  for (const k of own) {
    const m = /^decoder\.up\.(\d+)\./.exec(k);
    if (m) levels = Math.max(levels, Number(m[1]) + 1);
  }
  const map = new Map<string, string>();
  const ignored: string[] = [];
  for (const full of all) {
    if (!full.startsWith(prefix)) {
      ignored.push(full);
      continue;
    }
    const k = full.slice(prefix.length);
    let to: string | null;
    if (layout === 'ldm') to = ldmKey(k, levels);
    else {
      to = DIFFUSERS_VAE_KEY.test(k) ? k : null;
      if (to && layout === 'diffusers-legacy')
        for (const [re, rep] of LEGACY_ATTENTION) to = to.replace(re, rep);
    }
    if (to === null) ignored.push(full);
    else map.set(full, to);
  }
  return { layout, prefix, map, ignored };
}

// LDM's attention projections are 1x1 convs, [C, C, 1, 1]; diffusers' are Linear, [C, C].
const isAttentionLinear = (key: string) => /\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(key);

/** The shape a source tensor has under its diffusers name (1x1 attention convs become matrices). */
export function diffusersShape(diffusersKey: string, shape: readonly number[]): number[] {
  if (isAttentionLinear(diffusersKey) && shape.length === 4 && shape[2] === 1 && shape[3] === 1)
    return [shape[0], shape[1]];
  return shape.slice();
}

/**
 * Read an AutoencoderKL configuration off the shapes of a diffusers-named state dict. GroupNorm's
 * group count is not visible in shapes: `normNumGroups` (default 32, every SD / SD3 VAE) is taken as given.
 */
export function inferAutoencoderKLConfig(
  shapes: Record<string, readonly number[]>,
  normNumGroups = 32,
): AutoencoderKLConfig {
  const need = (k: string): readonly number[] => {
    const s = shapes[k];
    if (!s) throw new Error(`inferAutoencoderKLConfig: the state dict has no '${k}'`);
    return s;
  };
  const blockOutChannels: number[] = [];
  for (let i = 0; shapes[`encoder.down_blocks.${i}.resnets.0.conv1.weight`]; i++) {
    blockOutChannels.push(need(`encoder.down_blocks.${i}.resnets.0.conv1.weight`)[0]);
  }
  if (blockOutChannels.length === 0)
    throw new Error(
      "inferAutoencoderKLConfig: the state dict has no 'encoder.down_blocks.0.resnets.0.conv1.weight'",
    );
  let layersPerBlock = 0;
  while (shapes[`encoder.down_blocks.0.resnets.${layersPerBlock}.conv1.weight`]) layersPerBlock++;
  const config: AutoencoderKLConfig = {
    inChannels: need('encoder.conv_in.weight')[1],
    outChannels: need('decoder.conv_out.weight')[0],
    blockOutChannels,
    layersPerBlock,
    latentChannels: need('decoder.conv_in.weight')[1],
    normNumGroups,
    useQuantConv: 'quant_conv.weight' in shapes,
    usePostQuantConv: 'post_quant_conv.weight' in shapes,
    midBlockAddAttention: 'encoder.mid_block.attentions.0.to_q.weight' in shapes,
  };
  checkAutoencoderKLConfig(config);
  return config;
}

/** What diffusers' `config.json` of an AutoencoderKL says, in our terms. */
export interface DiffusersVaeConfig {
  config: AutoencoderKLConfig;
  /** `scaling_factor` (SD3: 1.5305), or null when absent. */
  scalingFactor: number | null;
  /** `shift_factor` (SD3: 0.0609), or null when absent. */
  shiftFactor: number | null;
}

/**
 * Parse diffusers' AutoencoderKL `config.json` (snake_case). Only DownEncoderBlock2D / UpDecoderBlock2D
 * and SiLU are supported; anything else is an error naming the field.
 */
export function autoencoderKLConfigFromDiffusers(json: unknown): DiffusersVaeConfig {
  const j = json as Record<string, unknown>;
  if (!j || typeof j !== 'object')
    throw new TypeError('autoencoderKLConfigFromDiffusers: expected the parsed config.json object');
  const cls = j._class_name;
  if (cls !== undefined && cls !== 'AutoencoderKL') {
    throw new Error(
      `autoencoderKLConfigFromDiffusers: _class_name must be 'AutoencoderKL', got '${String(cls)}'`,
    );
  }
  const blocks = (j.block_out_channels as number[] | undefined) ?? [64];
  for (const [field, want] of [
    ['down_block_types', 'DownEncoderBlock2D'],
    ['up_block_types', 'UpDecoderBlock2D'],
  ] as const) {
    const types = j[field] as string[] | undefined;
    if (
      types !== undefined &&
      (!Array.isArray(types) || types.length !== blocks.length || types.some((t) => t !== want))
    ) {
      throw new Error(
        `autoencoderKLConfigFromDiffusers: ${field} must be ${blocks.length} x '${want}', got ${JSON.stringify(types)}`,
      );
    }
  }
  if (j.act_fn !== undefined && j.act_fn !== 'silu')
    throw new Error(`autoencoderKLConfigFromDiffusers: act_fn must be 'silu', got '${String(j.act_fn)}'`);
  // diffusers' own defaults for absent fields.
  const config: AutoencoderKLConfig = {
    inChannels: (j.in_channels as number) ?? 3,
    outChannels: (j.out_channels as number) ?? 3,
    blockOutChannels: [...blocks],
    layersPerBlock: (j.layers_per_block as number) ?? 1,
    latentChannels: (j.latent_channels as number) ?? 4,
    normNumGroups: (j.norm_num_groups as number) ?? 32,
    useQuantConv: (j.use_quant_conv as boolean) ?? true,
    usePostQuantConv: (j.use_post_quant_conv as boolean) ?? true,
    midBlockAddAttention: (j.mid_block_add_attention as boolean) ?? true,
  };
  checkAutoencoderKLConfig(config);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return { config, scalingFactor: num(j.scaling_factor), shiftFactor: num(j.shift_factor) };
}

/**
 * diffusers' latent scaling, `(z - shift_factor) * scaling_factor`, as the per-channel
 * {@link LatentNormalization} the LDM uses (the same value on every channel).
 */
export function scalingFactorNormalization(
  scalingFactor: number,
  shiftFactor: number | null,
  channels: number,
): LatentNormalization {
  if (!(Number.isFinite(scalingFactor) && scalingFactor > 0)) {
    throw new RangeError(
      `scalingFactorNormalization: scalingFactor must be a finite number > 0, got ${scalingFactor}`,
    );
  }
  if (!Number.isInteger(channels) || channels < 1)
    throw new RangeError(`scalingFactorNormalization: channels must be a positive integer, got ${channels}`);
  return {
    shift: new Array(channels).fill(shiftFactor ?? 0),
    scale: new Array(channels).fill(scalingFactor),
  };
}

/** What {@link loadVaeStateDict} did. */
export interface VaeLoadReport extends LoadResult {
  layout: VaeKeyLayout;
  prefix: string;
  /** Keys of the dict that are not VAE weights and were left out. */
  ignored: string[];
}

/**
 * Load a VAE state dict in any {@link VaeKeyLayout}, bare or under a prefix, into `model`. Every name
 * and shape is checked before anything is assigned (a bad dict loads nothing). With `strict` (default)
 * a VAE weight the model lacks, or one the dict lacks, is an error; non-VAE keys are only reported.
 * The dict's tensors stay the caller's.
 */
export function loadVaeStateDict(
  model: AutoencoderKL,
  dict: Record<string, tf.Tensor>,
  opts: { strict?: boolean } = {},
): VaeLoadReport {
  if (!(model instanceof AutoencoderKL))
    throw new TypeError('loadVaeStateDict: model must be an AutoencoderKL');
  if (!dict || typeof dict !== 'object')
    throw new TypeError('loadVaeStateDict: dict must be a record of tensors');
  const mapping = vaeKeyMapping(Object.keys(dict));
  const renamed: Record<string, tf.Tensor> = {};
  const made: tf.Tensor[] = [];
  try {
    for (const [from, to] of mapping.map) {
      const t = dict[from];
      const shape = diffusersShape(to, t.shape);
      if (shape.length !== t.rank) {
        const r = tf.reshape(t, shape);
        made.push(r);
        renamed[to] = r;
      } else renamed[to] = t;
    }
    const result = model.loadStateDict(renamed, opts);
    return { ...result, layout: mapping.layout, prefix: mapping.prefix, ignored: mapping.ignored };
  } finally {
    tf.dispose(made);
  }
}

/** Options of {@link autoencoderKLFromStateDict}. */
export interface FromStateDictOptions extends Omit<AutoencoderKLOptions, 'config' | 'preset' | 'init'> {
  /** The architecture; default: read off the dict's shapes ({@link inferAutoencoderKLConfig}). */
  config?: AutoencoderKLConfig;
  /** GroupNorm groups when the config is inferred. Default 32. */
  normNumGroups?: number;
}

/**
 * Build an AutoencoderKL that fits a VAE state dict (any {@link VaeKeyLayout}) and load it strictly.
 * The dict's tensors stay the caller's; the model is the caller's.
 */
export function autoencoderKLFromStateDict(
  dict: Record<string, tf.Tensor>,
  opts: FromStateDictOptions = {},
): { model: AutoencoderKL; report: VaeLoadReport } {
  const mapping = vaeKeyMapping(Object.keys(dict));
  const shapes: Record<string, number[]> = {};
  for (const [from, to] of mapping.map) shapes[to] = diffusersShape(to, dict[from].shape);
  const config = opts.config ?? inferAutoencoderKLConfig(shapes, opts.normNumGroups);
  const model = new AutoencoderKL({ ...opts, config, init: 'zeros' });
  try {
    return { model, report: loadVaeStateDict(model, dict, { strict: true }) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
