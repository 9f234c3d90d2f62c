/**
 * @ldmae/metrics: FID, sFID, IS, precision/recall, PSNR, SSIM, LPIPS and the paper's latent analyses.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';

export * from './image/index.js';
export * from './stats/index.js';
