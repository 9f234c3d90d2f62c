/**
 * Serialisable configurations of the two denoisers and their validation. A config is plain JSON: it
 * is saved in checkpoints and `fromConfig` rebuilds the same architecture from it.
 */

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

/** Configuration of the classic DiT (Peebles & Xie). */
export interface DiTConfig extends DiTArchitecture {
  type: 'dit';
}

/** Configuration of LightningDiT (Yao et al.), the denoiser of the LDMAE paper. */
export interface LightningDiTConfig extends DiTArchitecture {
  type: 'lightningdit';
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

/** Either denoiser's configuration; `type` tells which. */
export type DenoiserConfig = DiTConfig | LightningDiTConfig;

/** Block shape of a preset. */
export interface PresetShape {
  depth: number;
  hiddenSize: number;
  patchSize: number;
  numHeads: number;
}

function posInt(v: unknown, name: string, where: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) {
    throw new RangeError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

function bool(v: unknown, name: string, where: string): boolean {
  if (typeof v !== 'boolean')
    throw new TypeError(`${where}: ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** A side or an [h, w] pair as a pair of positive integers. */
export function sizePair(v: unknown, name: string, where: string): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new RangeError(`${where}: ${name} must be a positive integer or [h, w], got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

/** Validate the shared fields of a complete config (throws naming the field). */
export function checkArchitecture(c: DiTArchitecture, where: string): void {
  const [h, w] = sizePair(c.inputSize, 'inputSize', where);
  const p = posInt(c.patchSize, 'patchSize', where);
  if (h % p !== 0 || w % p !== 0) {
    throw new RangeError(`${where}: inputSize [${h}, ${w}] must be divisible by patchSize ${p}`);
  }
  posInt(c.inChannels, 'inChannels', where);
  const d = posInt(c.hiddenSize, 'hiddenSize', where);
  posInt(c.depth, 'depth', where);
  const heads = posInt(c.numHeads, 'numHeads', where);
  if (d % heads !== 0) throw new RangeError(`${where}: numHeads ${heads} must divide hiddenSize ${d}`);
  // The fixed 2-D sin-cos embedding splits D into four equal parts.
  if (d % 4 !== 0) throw new RangeError(`${where}: hiddenSize must be a multiple of 4, got ${d}`);
  if (!(Number.isFinite(c.mlpRatio) && c.mlpRatio > 0))
    throw new RangeError(`${where}: mlpRatio must be > 0, got ${c.mlpRatio}`);
  posInt(c.numClasses, 'numClasses', where);
  if (!(c.classDropoutProb >= 0 && c.classDropoutProb < 1))
    throw new RangeError(`${where}: classDropoutProb must be in [0, 1), got ${c.classDropoutProb}`);
  bool(c.learnSigma, 'learnSigma', where);
}

/** Validate a LightningDiT config's own flags. */
export function checkLightningFlags(c: LightningDiTConfig, where: string): void {
  for (const k of ['qkNorm', 'swiglu', 'rope', 'rmsNorm', 'woShift'] as const) bool(c[k], k, where);
  const headDim = c.hiddenSize / c.numHeads;
  if (c.rope && headDim % 4 !== 0) {
    throw new RangeError(`${where}: rope needs hiddenSize / numHeads to be a multiple of 4, got ${headDim}`);
  }
}
