// Barrel of latent/: the latent cache format, encoder, in-memory source and loader.
export * from './encode.js';
export * from './format.js';
export * from './loader.js';
export * from './source.js';
