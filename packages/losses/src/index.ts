/**
 * @ldmae/losses: Reconstruction, KL, LPIPS (head + pluggable trunk) and adversarial losses.
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds file loading (lpips lin
 * weights by path, the offline nsfwjs InceptionV3 trunk from the installed package).
 * @packageDocumentation
 */

export * from './adversarial.js';
export * from './batch-norm.js';
export * from './discriminator.js';
export * from './keras/index.js';
export * from './kl.js';
export * from './lpips/index.js';
export * from './reconstruction.js';

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
