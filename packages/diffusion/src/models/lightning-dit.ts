/** LightningDiT (Yao et al.), the denoiser of the LDMAE paper. */
import { createRng, type Rng } from '@ldmae/core';
import {
  checkArchitecture,
  checkLightningFlags,
  type LightningDiTConfig,
  type PresetShape,
  sizePair,
} from './config.js';
import { LIGHTNINGDIT_PRESETS, presetShape } from './presets.js';
import { AdaLNTransformer } from './transformer.js';

/** Options of {@link LightningDiT}: a config, where a preset may supply the block shape. */
export interface LightningDiTOptions extends Partial<Omit<LightningDiTConfig, 'type' | 'inputSize'>> {
  /** A name of {@link LIGHTNINGDIT_PRESETS}; explicit depth / hiddenSize / patchSize / numHeads win. */
  preset?: string;
  /** Latent grid: a side or [h, w]. */
  inputSize: number | [number, number];
  /** Latent channels. */
  inChannels: number;
}

/** How a {@link LightningDiT} or {@link DiT} draws its initial weights: a generator or a seed (default 0). */
export interface InitOptions {
  rng?: Rng;
  seed?: number;
}

/**
 * A complete LightningDiT config from options. Defaults: mlpRatio 4, numClasses 1000,
 * classDropoutProb 0.1, learnSigma false, and the paper's features on (rmsNorm, rope, swiglu) with
 * qkNorm and woShift off. (The reference constructor's defaults have every feature off; its configs
 * turn them on.)
 */
export function lightningDiTConfig(opts: LightningDiTOptions): LightningDiTConfig {
  const where = 'LightningDiT';
  if (!opts || typeof opts !== 'object') throw new TypeError(`${where}: options object expected`);
  const base: Partial<PresetShape> = opts.preset ? presetShape(opts.preset, LIGHTNINGDIT_PRESETS, where) : {};
  const pick = <K extends keyof PresetShape>(k: K): number => {
    const v = opts[k] ?? base[k];
    if (v === undefined) throw new TypeError(`${where}: ${k} is required (or give a preset)`);
    return v;
  };
  const cfg: LightningDiTConfig = {
    type: 'lightningdit',
    inputSize: sizePair(opts.inputSize, 'inputSize', where),
    patchSize: pick('patchSize'),
    inChannels: opts.inChannels,
    hiddenSize: pick('hiddenSize'),
    depth: pick('depth'),
    numHeads: pick('numHeads'),
    mlpRatio: opts.mlpRatio ?? 4,
    numClasses: opts.numClasses ?? 1000,
    classDropoutProb: opts.classDropoutProb ?? 0.1,
    learnSigma: opts.learnSigma ?? false,
    qkNorm: opts.qkNorm ?? false,
    swiglu: opts.swiglu ?? true,
    rope: opts.rope ?? true,
    rmsNorm: opts.rmsNorm ?? true,
    woShift: opts.woShift ?? false,
  };
  checkArchitecture(cfg, where);
  checkLightningFlags(cfg, where);
  return cfg;
}

/**
 * LightningDiT: the adaLN-Zero DiT with RMSNorm, 2-D RoPE, optional qk-norm and a SwiGLU MLP,
 * conditioned on the timestep plus a class embedding (with a null class when classDropoutProb > 0).
 * State-dict names and layouts are the reference's (`models/lightningdit.py`), so converted
 * checkpoints load by name.
 */
export class LightningDiT extends AdaLNTransformer {
  readonly config: LightningDiTConfig;

  constructor(opts: LightningDiTOptions, init: InitOptions = {}) {
    const cfg = lightningDiTConfig(opts);
    super(cfg, cfg, init.rng ?? createRng(init.seed ?? 0));
    this.config = cfg;
  }

  /** Rebuild from a saved config (fresh weights; load a state dict to restore them). */
  static fromConfig(config: LightningDiTConfig, init: InitOptions = {}): LightningDiT {
    if (config?.type !== 'lightningdit') {
      throw new TypeError(
        `LightningDiT.fromConfig: config.type must be 'lightningdit', got ${JSON.stringify(config?.type)}`,
      );
    }
    const { type: _t, ...rest } = config;
    return new LightningDiT(rest, init);
  }

  /** The serialisable config (a copy). */
  toJSON(): LightningDiTConfig {
    return { ...this.config, inputSize: [...this.config.inputSize] };
  }
}
