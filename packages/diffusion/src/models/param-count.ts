/**
 * Closed-form parameter counts of a DiT / LightningDiT config, term by term from the reference module
 * definitions, so a preset's size is known without allocating it (LightningDiT-XL would need 2.7 GB).
 */
import { swigluHidden } from '@ldmae/core';
import type { DenoiserConfig } from './dit.js';

/** What {@link countParameters} returns. */
export interface ParameterCount {
  /** Trainable scalars (what the optimiser updates; `Module.numParameters()`). */
  trainable: number;
  /** Scalars of the frozen sin-cos `pos_embed` (an nn.Parameter with requires_grad=False in PyTorch). */
  posEmbed: number;
  /**
   * `sum(p.numel() for p in model.parameters())` of the PyTorch reference: trainable + posEmbed. This
   * is the number the reference training scripts print.
   */
  torchParameters: number;
  /** Scalars of the persistent RoPE tables (`feat_rope.freqs_cos/sin`), buffers not parameters. */
  ropeBuffers: number;
}

/** Exact parameter counts of a complete config (see {@link ParameterCount}). */
export function countParameters(config: DenoiserConfig): ParameterCount {
  const d = config.hiddenSize;
  const c = config.inChannels;
  const p = config.patchSize;
  const out = config.learnSigma ? 2 * c : c;
  const tokens = (config.inputSize[0] / p) * (config.inputSize[1] / p);
  const headDim = d / config.numHeads;
  const lightning = config.type === 'lightningdit';
  const rms = lightning && config.rmsNorm;
  const linear = (i: number, o: number) => i * o + o;

  const xEmbedder = linear(c * p * p, d);
  const tEmbedder = linear(256, d) + linear(d, d);
  const yEmbedder = (config.numClasses + (config.classDropoutProb > 0 ? 1 : 0)) * d;

  const norms = rms ? 2 * d : 0;
  const qkNorm = lightning && config.qkNorm ? (rms ? 2 * headDim : 4 * headDim) : 0;
  const attn = linear(d, 3 * d) + linear(d, d) + qkNorm;
  let mlp: number;
  if (lightning && config.swiglu) {
    const h = swigluHidden(d, config.mlpRatio);
    mlp = linear(d, 2 * h) + linear(h, d);
  } else {
    const h = Math.trunc(d * config.mlpRatio);
    mlp = linear(d, h) + linear(h, d);
  }
  const adaLN = linear(d, (lightning && config.woShift ? 4 : 6) * d);
  const block = norms + attn + mlp + adaLN;

  const finalLayer = (rms ? d : 0) + linear(d, p * p * out) + linear(d, 2 * d);
  const trainable = xEmbedder + tEmbedder + yEmbedder + config.depth * block + finalLayer;
  const posEmbed = tokens * d;
  return {
    trainable,
    posEmbed,
    torchParameters: trainable + posEmbed,
    ropeBuffers: lightning && config.rope ? 2 * tokens * headDim : 0,
  };
}
