// Barrel of model/: the Autoencoder contract and latent distributions.
export * from './autoencoder.js';
export * from './diagonal-gaussian.js';
