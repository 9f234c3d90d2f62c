// Barrel of model/: the Autoencoder contract, latent distributions, and loading models by kind.
export { type Autoencoder, reconstruct } from './autoencoder.js';
export { DiagonalGaussian, type LatentDistribution, LOGVAR_MAX, LOGVAR_MIN } from './diagonal-gaussian.js';
export {
  type FetchFolderOptions,
  type FolderSource,
  type FolderStore,
  fetchFolder,
  isFolderSource,
  memoryFolder,
} from './folder.js';
export {
  ChannelMoments,
  computeLatentNormalization,
  denormalizeLatents,
  type FitLatentNormalizationOptions,
  fitLatentNormalization,
  type LatentNormalization,
  normalizeLatents,
} from './latent-norm.js';
export {
  autoencoderCheckpoint,
  autoencoderRegistry,
  type LoadedModel,
  loadAutoencoder,
  type ModelFileProbe,
  type ModelImporter,
  type ModelKind,
  type ModelLoadOptions,
  ModelRegistry,
  type ModelSource,
  openFolder,
  openFolderStore,
  PIPELINE_FILE,
  readCheckpoint,
  registerAutoencoderImporter,
  registerAutoencoderKind,
  type StoredCheckpoint,
  type StoredModel,
} from './registry.js';
