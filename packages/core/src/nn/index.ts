// Barrel of nn/: the layers, initialisers and embeddings a model needs (kernel helpers stay internal).
export { type ActivationName, activation, gelu, geluTanh, silu } from './activations.js';
export { Attention, type AttentionOptions, matMulNT, type QkNorm } from './attention.js';
export { Block, type BlockOptions } from './block.js';
export { Conv2d, type Conv2dInit, type Conv2dOptions, type Conv2dPadding } from './conv2d.js';
export { GroupNorm, type GroupNormOptions } from './group-norm.js';
export {
  normal,
  type TruncNormalOptions,
  torchDefaultUniform,
  truncNormal,
  uniform,
  xavierUniform,
} from './init.js';
export { LayerNorm, type LayerNormOptions } from './layer-norm.js';
export {
  affine2d,
  getMatMulGradMode,
  Linear,
  type LinearInit,
  type LinearOptions,
  type MatMulGradMode,
  matMul2d,
  setMatMulGradMode,
} from './linear.js';
export { Mlp, type MlpOptions } from './mlp.js';
export { type LoadResult, Module, ModuleList, type ParamOptions } from './module.js';
export { scaleShift, standardize } from './normalize.js';
export { patchify, unpatchify } from './patchify.js';
export {
  get2dSincosPosEmbed,
  type ResizePosEmbedOptions,
  resizePosEmbed,
  type SincosPosEmbedOptions,
} from './posembed.js';
export { RMSNorm, type RMSNormOptions } from './rms-norm.js';
export { RotaryEmbedding2d, type RotaryEmbedding2dOptions, rope2dAngles } from './rope.js';
export { SwiGLU, type SwiGLUOptions, swigluHidden } from './swiglu.js';
export {
  TimestepEmbedder,
  type TimestepEmbedderOptions,
  TimestepMlp,
  timestepEmbedding,
} from './timestep.js';
