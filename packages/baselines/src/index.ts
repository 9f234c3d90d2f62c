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

export * from './attention-block.js';
export * from './autoencoder-kl.js';
export * from './checkpoint.js';
export * from './config.js';
export * from './decoder.js';
export * from './diffusers-folder.js';
export * from './encoder.js';
export * from './import.js';
export { baselineAutoencoderKind, diffusersVaeImporter } from './kind.js';
export * from './mid-block.js';
export * from './objectives.js';
export * from './resample.js';
export * from './resnet-block.js';
export * from './sd-vae-objective.js';
export * from './train.js';
export * from './variants.js';
