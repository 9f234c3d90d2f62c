/** Validation of what enters a VMAE: image and latent shapes, and the [-1, 1] value range. */
import { canReadSync } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * What to do with image values outside [-1, 1]: 'throw' (default; a clear error), 'clamp' (clip them,
 * e.g. after a bicubic resize that overshoots), or 'ignore' (no check, no device read-back).
 */
export type InputRangePolicy = 'throw' | 'clamp' | 'ignore';

/** Slack on the range check, so float rounding of a [-1, 1] normalisation never trips it. */
export const RANGE_TOLERANCE = 1e-4;

/** Checks rank, channels and divisibility at VMAE's doors; returns the token grid [H / p, W / p]. */
export function checkImageShape(x: unknown, channels: number, patch: number): [number, number] {
  if (!(x instanceof tf.Tensor))
    throw new TypeError(`VMAE: images must be a tf.Tensor [B, H, W, ${channels}]`);
  if (x.rank !== 4) throw new Error(`VMAE: images must be [B, H, W, ${channels}] (NHWC), got [${x.shape}]`);
  const [b, h, w, c] = x.shape as number[];
  if (c !== channels) {
    throw new Error(
      `VMAE: images must have ${channels} channels (NHWC, RGB in [-1, 1]), got ${c} (shape [${x.shape}])` +
        (c === 1 ? '; repeat grey images to RGB first' : ''),
    );
  }
  if (b < 1 || h < 1 || w < 1) throw new Error(`VMAE: images are empty (shape [${x.shape}])`);
  if (h % patch !== 0 || w % patch !== 0) {
    throw new Error(
      `VMAE: the image size is ${h}x${w}, which is not divisible by the patch size ${patch}; ` +
        `crop or pad to a multiple of ${patch}`,
    );
  }
  if (x.dtype !== 'float32') throw new Error(`VMAE: images must be float32, got ${x.dtype}`);
  return [h / patch, w / patch];
}

/**
 * Apply the range policy to images. Returns `x` itself when nothing changes, otherwise a clipped copy
 * the caller owns (compare with `x` to know which).
 */
export function applyRangePolicy(x: tf.Tensor, policy: InputRangePolicy): tf.Tensor {
  if (policy === 'ignore') return x;
  if (policy === 'clamp') return tf.clipByValue(x, -1, 1);
  if (policy !== 'throw')
    throw new Error(`VMAE: inputRange must be 'throw', 'clamp' or 'ignore', got '${policy}'`);
  // WebGPU in Node cannot read back synchronously: there trainVMAE checks each batch with
  // checkRangeAsync before the step, and direct calls skip the check.
  if (!canReadSync()) return x;
  const extremes = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
  const both = extremes.dataSync();
  extremes.dispose();
  throwIfOutOfRange(both[0], both[1], 'VMAE');
  return x;
}

/**
 * The 'throw' range check of images with an asynchronous read (for backends without synchronous
 * reads); `where` names the public trainer in the error.
 */
export async function checkRangeAsync(x: tf.Tensor, where: string): Promise<void> {
  const extremes = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
  const both = await extremes.data();
  extremes.dispose();
  throwIfOutOfRange(both[0], both[1], where);
}

function throwIfOutOfRange(lo: number, hi: number, where: string): void {
  if (!(lo >= -1 - RANGE_TOLERANCE && hi <= 1 + RANGE_TOLERANCE)) {
    throw new RangeError(
      `${where}: images values must lie in [-1, 1] (images scaled as 2 * byte / 255 - 1), got [${lo}, ${hi}]; ` +
        `set inputRange: 'clamp' to clip them`,
    );
  }
}
