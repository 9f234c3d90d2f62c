/**
 * @ldmae/metrics: FID, sFID, IS, precision/recall, PSNR, SSIM, LPIPS and the paper's latent analyses.
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds weight files by path, the
 * offline nsfwjs feature extractor and evaluations that default to it.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';

export * from './eval/index.js';
export * from './features/index.js';
export * from './image/index.js';
export * from './stats/index.js';
