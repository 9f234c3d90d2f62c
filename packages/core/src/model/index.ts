// Barrel of model/: the Autoencoder contract, latent distributions, and loading models by kind.
export * from './autoencoder.js';
export * from './diagonal-gaussian.js';
export {
  type FetchFolderOptions,
  type FolderSource,
  type FolderStore,
  fetchFolder,
  isFolderSource,
  memoryFolder,
} from './folder.js';
export * from './latent-norm.js';
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
