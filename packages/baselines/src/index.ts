/**
 * @ldmae/baselines: the paper's baseline autoencoders (AE, DAE, VAE, SD-VAE) on diffusers'
 * AutoencoderKL, behind the Autoencoder contract, with their training objectives and an importer
 * for diffusers / LDM VAE weights.
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds loading weights from files.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';

export * from './autoencoder-kl.js';
export * from './checkpoint.js';
export {
  AUTOENCODER_KL_PRESET_ALIASES,
  AUTOENCODER_KL_PRESET_NAMES,
  AUTOENCODER_KL_PRESETS,
  type AutoencoderKLConfig,
  type AutoencoderKLPreset,
  type AutoencoderKLPresetAlias,
  type AutoencoderKLPresetName,
  autoencoderKLConfig,
  autoencoderKLParameterCount,
  DEFAULT_BASELINE_PRESET,
  downsamplingFactor,
  resolveAutoencoderKLPresetName,
} from './config.js';
export type { DecoderFeatures } from './decoder.js';
export * from './diffusers-folder.js';
export {
  autoencoderKLConfigFromDiffusers,
  autoencoderKLFromStateDict,
  type DiffusersVaeConfig,
  type FromStateDictOptions,
  inferAutoencoderKLConfig,
  loadVaeStateDict,
  scalingFactorNormalization,
  type VaeKeyLayout,
  type VaeKeyMapping,
  type VaeLoadReport,
  vaeKeyMapping,
} from './import.js';
export { baselineAutoencoderKind, diffusersVaeImporter } from './kind.js';
export * from './objectives.js';
export type { VaeInit } from './resnet-block.js';
export * from './sd-vae-objective.js';
export * from './train.js';
export { BASELINE_KINDS, BASELINE_POSTERIOR, type BaselineKind, createBaseline } from './variants.js';
