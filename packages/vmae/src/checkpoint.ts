/**
 * Saving and loading VMAEs: our own checkpoints (core's atomic checkpoint format with the config and
 * the latent normalisation in the metadata) and the reference's PyTorch checkpoints (`torch.save`'d
 * dicts with the state dict under `model`, e.g. the released `vmaef8d16.pth`).
 *
 * The reference's state-dict names are this package's module names, and Module.loadStateDict converts
 * PyTorch layouts (Linear [out, in], Conv [out, in, kh, kw]) to ours, so importing is: pick the model
 * tensors, infer the architecture from their shapes, build the model, load.
 */
import {
  type CheckpointPayload,
  decodeCheckpointHost,
  detectTensorFormat,
  encodeCheckpoint,
  type HostTensorDict,
  makeCheckpointPayload,
  parsePth,
  parseSafetensors,
  type Rng,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { resolveVMAEConfig, type VMAEConfig, type VMAEPresetName } from './config.js';
import { nodeCoreIo } from './node-core.js';
import { VMAE, type VMAEOptions } from './vmae.js';

/** `config.format` of the checkpoints this package writes. */
export const VMAE_CHECKPOINT_FORMAT = 'ldmae-vmae';

/** What a VMAE checkpoint's `config` metadata holds. */
export interface VMAECheckpointConfig {
  format: typeof VMAE_CHECKPOINT_FORMAT;
  vmae: VMAEConfig;
  latentNormalization: VMAE['latentNormalization'];
  /** Training recipe, when written by the trainer. */
  recipe?: unknown;
}

/** The checkpoint `config` describing `model` (plus optional extra fields such as the recipe). */
export function vmaeCheckpointConfig(model: VMAE, extra: { recipe?: unknown } = {}): VMAECheckpointConfig {
  return {
    format: VMAE_CHECKPOINT_FORMAT,
    vmae: { ...model.config, imgSize: [...model.config.imgSize] as [number, number] },
    latentNormalization: model.latentNormalization,
    ...extra,
  };
}

/** The model as a checkpoint payload (step 0, no optimiser). The caller owns its tensors. */
export function vmaePayload(model: VMAE): CheckpointPayload {
  return makeCheckpointPayload({ model, step: 0, config: vmaeCheckpointConfig(model) });
}

/** The model as checkpoint bytes (one safetensors file with a CRC), e.g. for a browser download. */
export async function encodeVMAE(model: VMAE): Promise<Uint8Array> {
  const payload = vmaePayload(model);
  try {
    return await encodeCheckpoint(payload);
  } finally {
    tf.dispose(Object.values(payload.tensors));
  }
}

/**
 * Save `model` (weights, config, latent normalisation) atomically with core's saveCheckpoint: to
 * `path` itself when it ends in `.safetensors`, otherwise into the folder `path`. Node only.
 */
export async function saveVMAE(path: string, model: VMAE): Promise<void> {
  if (!(model instanceof VMAE)) throw new TypeError('saveVMAE: model must be a VMAE');
  const io = nodeCoreIo('saveVMAE');
  const payload = vmaePayload(model);
  try {
    await io.saveCheckpoint(path, payload);
  } finally {
    tf.dispose(Object.values(payload.tensors));
  }
}

/** Options of {@link loadVMAE} / {@link readVMAE}. */
export interface LoadVMAEOptions extends VMAEOptions {
  /**
   * For reference checkpoints: the preset that fixes what the weights cannot tell (heads, MLP ratio,
   * LayerNorm eps). Every dimension the weights do tell must agree with it, except the image size
   * (taken from `pos_embed`) and the mask token (present or not). Default 'f8d16'.
   */
  preset?: VMAEPresetName | VMAEConfig;
  /** Attention heads of encoder / decoder when they differ from the preset's. */
  numHeads?: number;
  decoderNumHeads?: number;
  /** [H, W] for a non-square reference model (a square grid is inferred from `pos_embed`). */
  imgSize?: number | [number, number];
  /**
   * Strict (default true): any model tensor left over in the file, or any model weight the file lacks,
   * is an error that lists them. Non-strict loads what matches and reports the rest.
   */
  strict?: boolean;
}

/** What {@link readVMAE} returns. */
export interface ReadVMAEResult {
  model: VMAE;
  /** 'ldmae': a checkpoint of this package (or its trainer); 'reference': a PyTorch state dict. */
  format: 'ldmae' | 'reference';
  /** Model weights the file lacks (non-strict only; they keep their initial values). */
  missing: string[];
  /** Tensors of the file's model part that the model does not have (non-strict only). */
  unexpected: string[];
  /**
   * Tensors skipped on purpose: the reference keeps its LPIPS network (`perceptual_loss.*`: taming's
   * VGG16 trunk and lin heads) inside the model's state dict.
   */
  ignored: string[];
  /** Training step of an ldmae training checkpoint (0 for a saved model). */
  step: number;
}

/** Keys of a reference state dict that belong to the LPIPS module the reference stores inside the model. */
const IGNORED_REFERENCE = /^perceptual_loss\./;

/**
 * Read a VMAE from a file path (Node) or bytes: a checkpoint written by {@link saveVMAE} or the trainer
 * (.safetensors file or folder), or a reference PyTorch checkpoint (.pth, zip or legacy format; the
 * state dict under `model`, or the bare state dict; a DataParallel `module.` prefix is stripped).
 */
export async function readVMAE(
  source: string | Uint8Array,
  opts: LoadVMAEOptions = {},
): Promise<ReadVMAEResult> {
  if (typeof source === 'string') {
    if (!source) throw new TypeError('loadVMAE: source must be a path or bytes');
    const io = nodeCoreIo('loadVMAE');
    if (/\.pth$|\.pt$|\.ckpt$|\.bin$/i.test(source))
      return fromReference(await io.readFileBytes(source), opts);
    let host: { tensors: HostTensorDict; metadata: Record<string, string> };
    try {
      host = await io.loadCheckpointHost(source);
    } catch (e) {
      throw new Error(`loadVMAE: cannot read '${source}' as a VMAE checkpoint: ${(e as Error).message}`);
    }
    return fromLdmae(host, opts, source);
  }
  if (!(source instanceof Uint8Array)) throw new TypeError('loadVMAE: source must be a path or a Uint8Array');
  const fmt = detectTensorFormat(source);
  if (fmt === 'pth') return fromReference(source, opts);
  if (fmt === 'safetensors') {
    const plain = parseSafetensors(source);
    if (plain.metadata.format === 'ldmae-checkpoint')
      return fromLdmae(decodeCheckpointHost(source), opts, 'bytes');
    return fromHostStateDict(plain.tensors, opts);
  }
  throw new Error('loadVMAE: bytes are neither a torch .pth file nor a safetensors checkpoint');
}

/** {@link readVMAE}, returning just the model. `loadVMAE('vmaef8d16.pth')` imports the released weights. */
export async function loadVMAE(source: string | Uint8Array, opts: LoadVMAEOptions = {}): Promise<VMAE> {
  return (await readVMAE(source, opts)).model;
}

/** @internal A reference PyTorch checkpoint's VMAE (see {@link readVMAE}). */
export function fromReference(bytes: Uint8Array, opts: LoadVMAEOptions): ReadVMAEResult {
  // Reference checkpoints pickle argparse.Namespace and the grad scaler next to the weights.
  const { tensors } = parsePth(bytes, { unknownGlobals: 'stub' });
  const keys = Object.keys(tensors);
  const picked: HostTensorDict = {};
  const under = keys.some((k) => k.startsWith('model.')) ? 'model.' : '';
  for (const k of keys) {
    if (under && !k.startsWith(under)) continue;
    let name = k.slice(under.length);
    if (name.startsWith('module.')) name = name.slice('module.'.length);
    picked[name] = tensors[k];
  }
  return fromHostStateDict(picked, opts);
}

function fromHostStateDict(all: HostTensorDict, opts: LoadVMAEOptions): ReadVMAEResult {
  const ignored = Object.keys(all).filter((k) => IGNORED_REFERENCE.test(k));
  const dict: HostTensorDict = {};
  for (const [k, t] of Object.entries(all)) if (!IGNORED_REFERENCE.test(k)) dict[k] = t;
  const cfg = inferVMAEConfig(Object.fromEntries(Object.entries(dict).map(([k, t]) => [k, t.shape])), opts);
  const { model, missing, unexpected } = buildAndLoad(cfg, dict, opts);
  return { model, format: 'reference', missing, unexpected, ignored, step: 0 };
}

/** @internal A VMAE from an LDMAE checkpoint's host tensors (see {@link readVMAE}). */
export function fromLdmae(
  host: { tensors: HostTensorDict; metadata: Record<string, string> },
  opts: LoadVMAEOptions,
  what: string,
): ReadVMAEResult {
  let config: Partial<VMAECheckpointConfig> | undefined;
  try {
    config = host.metadata.config ? JSON.parse(host.metadata.config) : undefined;
  } catch {
    config = undefined;
  }
  if (!config || config.format !== VMAE_CHECKPOINT_FORMAT || !config.vmae) {
    throw new Error(
      `loadVMAE: '${what}' is an LDMAE checkpoint but not of a VMAE (config.format is not '${VMAE_CHECKPOINT_FORMAT}')`,
    );
  }
  const dict: HostTensorDict = {};
  for (const [k, t] of Object.entries(host.tensors)) if (k.startsWith('model.')) dict[k.slice(6)] = t;
  const cfg = resolveVMAEConfig(config.vmae);
  const { model, missing, unexpected } = buildAndLoad(cfg, dict, opts);
  model.latentNormalization = config.latentNormalization ?? null;
  const step = Number(host.metadata.step ?? 0);
  return {
    model,
    format: 'ldmae',
    missing,
    unexpected,
    ignored: [],
    step: Number.isInteger(step) ? step : 0,
  };
}

function buildAndLoad(
  cfg: VMAEConfig,
  dict: HostTensorDict,
  opts: LoadVMAEOptions,
): { model: VMAE; missing: string[]; unexpected: string[] } {
  const strict = opts.strict ?? true;
  const { rng, patchEmbedImpl, inputRange } = opts;
  // Shapes and names are checked before the (possibly large) model is built.
  const probe = expectedShapes(cfg);
  const missing = Object.keys(probe).filter((k) => !Object.hasOwn(dict, k));
  const unexpected = Object.keys(dict).filter((k) => !Object.hasOwn(probe, k));
  if (strict && (missing.length || unexpected.length)) {
    throw new Error(
      'loadVMAE: the checkpoint does not match the model (strict).' +
        (missing.length ? ` Missing: ${missing.join(', ')}.` : '') +
        (unexpected.length ? ` Left over: ${unexpected.join(', ')}.` : '') +
        ' Pass strict: false to load what matches.',
    );
  }
  for (const [k, want] of Object.entries(probe)) {
    const t = dict[k];
    if (t && !tf.util.arraysEqual(t.shape, want))
      throw new Error(`loadVMAE: '${k}' has shape [${t.shape}], the model needs [${want}] (PyTorch layout)`);
  }
  const keep: HostTensorDict = {};
  for (const k of Object.keys(probe)) if (dict[k]) keep[k] = dict[k];
  const tensors = toTfTensors(keep);
  const model = new VMAE(cfg, { rng: rng as Rng | undefined, patchEmbedImpl, inputRange });
  try {
    model.loadStateDict(tensors, { strict: false });
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return { model, missing, unexpected };
}

/** The state-dict names and PyTorch shapes of a VMAE of config `cfg`, without building it. */
export function vmaeStateDictShapes(cfg: VMAEConfig): Record<string, number[]> {
  return expectedShapes(resolveVMAEConfig(cfg));
}

function expectedShapes(cfg: VMAEConfig): Record<string, number[]> {
  const { patchSize: p, inChans: c, embedDim: d, decoderEmbedDim: dd, latentDim: l } = cfg;
  const tokens = (cfg.imgSize[0] / p) * (cfg.imgSize[1] / p);
  const out: Record<string, number[]> = {};
  const lin = (name: string, i: number, o: number) => {
    out[`${name}.weight`] = [o, i];
    out[`${name}.bias`] = [o];
  };
  const ln = (name: string, n: number) => {
    out[`${name}.weight`] = [n];
    out[`${name}.bias`] = [n];
  };
  const block = (name: string, n: number) => {
    const hidden = Math.trunc(n * cfg.mlpRatio);
    ln(`${name}.norm1`, n);
    lin(`${name}.attn.qkv`, n, 3 * n);
    lin(`${name}.attn.proj`, n, n);
    ln(`${name}.norm2`, n);
    lin(`${name}.mlp.fc1`, n, hidden);
    lin(`${name}.mlp.fc2`, hidden, n);
  };
  out.pos_embed = [1, tokens, d];
  if (cfg.maskToken) out.mask_token = [1, 1, dd];
  out.decoder_pos_embed = [1, tokens, dd];
  lin('to_latent', d, 2 * l);
  lin('from_latent', l, d);
  out['patch_embed.proj.weight'] = [d, c, p, p];
  out['patch_embed.proj.bias'] = [d];
  for (let i = 0; i < cfg.depth; i++) block(`blocks.${i}`, d);
  ln('norm', d);
  lin('decoder_embed', d, dd);
  for (let i = 0; i < cfg.decoderDepth; i++) block(`decoder_blocks.${i}`, dd);
  ln('decoder_norm', dd);
  lin('decoder_pred.linear_pred', dd, p * p * c);
  out['decoder_pred.conv_smoother.weight'] = [c, c, 3, 3];
  out['decoder_pred.conv_smoother.bias'] = [c];
  return out;
}

/**
 * The architecture of a reference state dict from its tensor shapes, completed by a preset (heads,
 * MLP ratio, eps). Throws when a dimension the weights tell disagrees with the preset.
 * @param shapes name -> PyTorch shape, e.g. from a parsed .pth.
 */
export function inferVMAEConfig(shapes: Record<string, number[]>, opts: LoadVMAEOptions = {}): VMAEConfig {
  const where = 'loadVMAE';
  const need = (k: string, rank: number): number[] => {
    const s = shapes[k];
    if (!s) {
      const hint = Object.keys(shapes).some((n) => n.startsWith('decoder_pred.weight'))
        ? ' (a reference model without smooth_output, whose decoder_pred is a bare Linear, is not a VMAE)'
        : '';
      throw new Error(`${where}: '${k}' is missing: not a VMAE state dict${hint}`);
    }
    if (s.length !== rank) throw new Error(`${where}: '${k}' has shape [${s}], expected rank ${rank}`);
    return s;
  };
  const [d, c, p, p2] = need('patch_embed.proj.weight', 4);
  if (p !== p2)
    throw new Error(`${where}: patch_embed.proj.weight [${d}, ${c}, ${p}, ${p2}] is not a square patch`);
  const [dd, d2] = need('decoder_embed.weight', 2);
  const [d3, l] = need('from_latent.weight', 2);
  const [l2] = need('to_latent.weight', 2);
  if (d2 !== d || d3 !== d || l2 !== 2 * l) {
    throw new Error(
      `${where}: decoder_embed / from_latent / to_latent shapes disagree with embedDim ${d} and latentDim ${l}`,
    );
  }
  const count = (prefix: string) => {
    const ids = new Set<number>();
    for (const k of Object.keys(shapes)) {
      const m = new RegExp(`^${prefix}\\.(\\d+)\\.`).exec(k);
      if (m) ids.add(Number(m[1]));
    }
    return ids.size;
  };
  const depth = count('blocks');
  const decoderDepth = count('decoder_blocks');
  const hidden = need('blocks.0.mlp.fc1.weight', 2)[0];
  const [, tokens, dpe] = need('pos_embed', 3);
  if (dpe !== d) throw new Error(`${where}: pos_embed width ${dpe} differs from embedDim ${d}`);
  let imgSize: [number, number];
  if (opts.imgSize !== undefined) {
    imgSize = typeof opts.imgSize === 'number' ? [opts.imgSize, opts.imgSize] : opts.imgSize;
    if ((imgSize[0] / p) * (imgSize[1] / p) !== tokens)
      throw new Error(
        `${where}: imgSize [${imgSize}] has ${(imgSize[0] / p) * (imgSize[1] / p)} tokens, pos_embed has ${tokens}`,
      );
  } else {
    const g = Math.round(Math.sqrt(tokens));
    if (g * g !== tokens)
      throw new Error(`${where}: pos_embed has ${tokens} tokens, not a square grid; pass imgSize [H, W]`);
    imgSize = [g * p, g * p];
  }
  const base = resolveVMAEConfig(opts.preset ?? 'f8d16');
  const told: Partial<VMAEConfig> = {
    patchSize: p,
    inChans: c,
    embedDim: d,
    depth,
    decoderEmbedDim: dd,
    decoderDepth,
    latentDim: l,
    mlpRatio: hidden / d,
  };
  const off = Object.entries(told).filter(([k, v]) => base[k as keyof VMAEConfig] !== v);
  if (off.length) {
    const name =
      typeof opts.preset === 'string'
        ? `preset '${opts.preset}'`
        : opts.preset
          ? 'the given config'
          : "preset 'f8d16'";
    throw new Error(
      `${where}: the checkpoint's architecture differs from ${name}: ` +
        off.map(([k, v]) => `${k} ${v} (preset ${base[k as keyof VMAEConfig]})`).join(', ') +
        '; pass the matching preset (heads cannot be read from the weights)',
    );
  }
  return resolveVMAEConfig(base, {
    imgSize,
    maskToken: Object.hasOwn(shapes, 'mask_token'),
    numHeads: opts.numHeads ?? base.numHeads,
    decoderNumHeads: opts.decoderNumHeads ?? base.decoderNumHeads,
  });
}
