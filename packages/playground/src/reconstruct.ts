/** Reconstructions by the VMAE (posterior mean, decoded) and their PSNR / SSIM against the originals. */
import { reconstruct as autoencoderReconstruct } from '@ldmae/core';
import { psnrPerImage, quantizeToUint8, ssimPerImage } from '@ldmae/metrics';
import type { VMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { fromTensor, type HostImages, toTensor } from './images.js';

/** What {@link reconstruct} returns. */
export interface Reconstruction {
  recon: HostImages;
  /** Per image: PSNR in dB on uint8 images (peak 255), SSIM with data range [-1, 1]. */
  psnr: Float64Array;
  ssim: Float64Array;
  /** Means over the images. */
  meanPsnr: number;
  meanSsim: number;
}

const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);

/**
 * Per-image PSNR (both images quantised to uint8, peak 255) and SSIM (data range [-1, 1], the
 * reference's torchmetrics setting), as `ldmae eval-recon` computes them.
 */
export function reconstructionMetrics(
  a: HostImages,
  b: HostImages,
): { psnr: Float64Array; ssim: Float64Array } {
  return {
    psnr: psnrPerImage(quantizeToUint8(a), quantizeToUint8(b)),
    ssim: ssimPerImage(a, b, { dataRange: [-1, 1] }),
  };
}

/** Reconstruct `images` ([-1, 1], the VMAE's image size) and score them against the originals. */
export async function reconstruct(vmae: VMAE, images: HostImages): Promise<Reconstruction> {
  const [, h, w] = images.shape;
  const [mh, mw] = vmae.config.imgSize;
  if (h !== mh || w !== mw)
    throw new Error(`reconstruct: the VMAE takes ${mh} x ${mw} images, got ${h} x ${w}`);
  const out = tf.tidy(() => {
    const x = toTensor(images);
    return tf.clipByValue(autoencoderReconstruct(vmae, x), -1, 1) as tf.Tensor4D;
  });
  const recon = await fromTensor(out);
  const { psnr, ssim } = reconstructionMetrics(images, recon);
  return { recon, psnr, ssim, meanPsnr: mean(psnr), meanSsim: mean(ssim) };
}
