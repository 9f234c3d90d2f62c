// What both scripts share.
import { DataLoader, toRgb } from '@ldmae/data';

/** @param {boolean} ok @param {string} what */
export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/**
 * The same 16 digits in both processes: [16, 28, 28, 3] in [-1, 1].
 * @param {import('@ldmae/data').Dataset} digits
 */
export async function testBatch(digits) {
  const { images, labels } = await new DataLoader(digits, {
    batchSize: 16,
    seed: 99,
    transform: toRgb(),
  }).next();
  labels?.dispose();
  return /** @type {import('@tensorflow/tfjs-core').Tensor4D} */ (images);
}
