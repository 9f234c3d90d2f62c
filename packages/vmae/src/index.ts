/**
 * @ldmae/vmae: the Variational Masked AutoEncoder: model, presets, trainer and checkpoint import.
 *
 * Everything runs in the browser and in Node; functions that take file paths (saveVMAE, loadVMAE of a
 * path, trainVMAE's checkpoint path / resume path) need Node and say so otherwise.
 * @packageDocumentation
 */

// The latent-normalisation fitter lives in @ldmae/core (it serves any autoencoder); re-exported here.
export {
  ChannelMoments,
  type FitLatentNormalizationOptions,
  fitLatentNormalization,
  type ImageBatch,
} from '@ldmae/core';
export {
  encodeVMAE,
  inferVMAEConfig,
  type LoadVMAEOptions,
  loadVMAE,
  type ReadVMAEResult,
  readVMAE,
  saveVMAE,
  VMAE_CHECKPOINT_FORMAT,
  type VMAECheckpointConfig,
  vmaeStateDictShapes,
} from './checkpoint.js';
export {
  countVMAENumbers,
  DEFAULT_VMAE_PRESET,
  resolveVMAEConfig,
  VMAE_PRESETS,
  type VMAEConfig,
  type VMAEConfigOverrides,
  type VMAEPreset,
  type VMAEPresetName,
} from './config.js';
export type { InputRangePolicy } from './inputs.js';
export { vmaeAutoencoderKind, vmaeReferenceImporter } from './kind.js';
export { type MaskPlan, planMasking } from './masking.js';
export * from './recipe.js';
export * from './train.js';
export * from './vmae.js';

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
