export { type ImageBatch, imageBatch, type PixelArray } from './batch.js';
export { l1, mse, type PsnrOptions, psnr, psnrPerImage } from './pixel-errors.js';
export { quantizeToUint8 } from './quantize.js';
export { type SsimOptions, ssim, ssimPerImage, ssimWindow } from './ssim.js';
