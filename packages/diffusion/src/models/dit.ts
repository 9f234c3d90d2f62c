/** The classic DiT (Peebles & Xie, "Scalable Diffusion Models with Transformers"). */
import { createRng } from '@ldmae/core';
import { checkArchitecture, type DiTConfig, type PresetShape, sizePair } from './config.js';
import type { InitOptions } from './lightning-dit.js';
import { DIT_PRESETS, presetShape } from './presets.js';
import { AdaLNTransformer } from './transformer.js';

/** Options of {@link DiT}: a config, where a preset may supply the block shape. */
export interface DiTOptions extends Partial<Omit<DiTConfig, 'type' | 'inputSize'>> {
  /** A name of {@link DIT_PRESETS}; explicit depth / hiddenSize / patchSize / numHeads win. */
  preset?: string;
  /** Latent grid: a side or [h, w]. */
  inputSize: number | [number, number];
  /** Latent channels. */
  inChannels: number;
}

/** A complete DiT config. Defaults as the reference: mlpRatio 4, 1000 classes, dropout 0.1, learnSigma true. */
export function ditConfig(opts: DiTOptions): DiTConfig {
  const where = 'DiT';
  if (!opts || typeof opts !== 'object') throw new TypeError(`${where}: options object expected`);
  const base: Partial<PresetShape> = opts.preset ? presetShape(opts.preset, DIT_PRESETS, where) : {};
  const pick = <K extends keyof PresetShape>(k: K): number => {
    const v = opts[k] ?? base[k];
    if (v === undefined) throw new TypeError(`${where}: ${k} is required (or give a preset)`);
    return v;
  };
  const cfg: DiTConfig = {
    type: 'dit',
    inputSize: sizePair(opts.inputSize, 'inputSize', where),
    patchSize: pick('patchSize'),
    inChannels: opts.inChannels,
    hiddenSize: pick('hiddenSize'),
    depth: pick('depth'),
    numHeads: pick('numHeads'),
    mlpRatio: opts.mlpRatio ?? 4,
    numClasses: opts.numClasses ?? 1000,
    classDropoutProb: opts.classDropoutProb ?? 0.1,
    learnSigma: opts.learnSigma ?? true,
  };
  checkArchitecture(cfg, where);
  return cfg;
}

/**
 * DiT: patch embedding + fixed sin-cos positions, adaLN-Zero blocks of LayerNorm (no affine,
 * eps 1e-6), attention and a GELU-tanh MLP, conditioned on timestep + class embedding. State-dict
 * names and layouts are the reference's (`models.py` of facebookresearch/DiT). With learnSigma
 * (the default) `forward` returns the first c channels and `forwardFull` all 2c.
 */
export class DiT extends AdaLNTransformer {
  readonly config: DiTConfig;

  constructor(opts: DiTOptions, init: InitOptions = {}) {
    const cfg = ditConfig(opts);
    super(
      cfg,
      { qkNorm: false, swiglu: false, rope: false, rmsNorm: false, woShift: false },
      init.rng ?? createRng(init.seed ?? 0),
    );
    this.config = cfg;
  }

  /** Rebuild from a saved config (fresh weights; load a state dict to restore them). */
  static fromConfig(config: DiTConfig, init: InitOptions = {}): DiT {
    if (config?.type !== 'dit') {
      throw new TypeError(`DiT.fromConfig: config.type must be 'dit', got ${JSON.stringify(config?.type)}`);
    }
    const { type: _t, ...rest } = config;
    return new DiT(rest, init);
  }

  /** The serialisable config (a copy). */
  toJSON(): DiTConfig {
    return { ...this.config, inputSize: [...this.config.inputSize] };
  }
}
