/**
 * [-1, 1] floats to uint8 pixels exactly as the LDMAE reference saves its PNGs.
 *
 * LightningDiT's evaluate_tokenizer.py does `torch.clamp(127.5 * x + 128.0, 0, 255)` and then converts
 * to uint8 (`.to(torch.uint8)` / `.astype(np.uint8)`), and that conversion truncates. So the map is
 * floor(clamp(127.5 x + 128, 0, 255)), which equals round(127.5 (x + 1)) except at exact ties. Rounding
 * 127.5 x + 128 instead would move almost every pixel up by one level: an image decoded as v / 127.5 - 1
 * comes back as v here, but as v + 1 with rounding.
 */
import { atDoor } from '@ldmae/core';
import { checkBatch, type ImageBatch } from './batch.js';

/**
 * Quantises [-1, 1] values to uint8 with the reference's floor(clamp(127.5 x + 128, 0, 255)).
 *
 * @param x - an {@link ImageBatch} (returns one with Uint8Array data and the same shape) or a plain
 *   Float32Array / Float64Array (returns a Uint8Array of the same length).
 *   The arithmetic is done in float32 steps like the reference's torch ops.
 * @throws RangeError on NaN or infinite values.
 */
export function quantizeToUint8(x: ImageBatch): ImageBatch;
export function quantizeToUint8(x: Float32Array | Float64Array): Uint8Array;
export function quantizeToUint8(x: ImageBatch | Float32Array | Float64Array): ImageBatch | Uint8Array {
  if (x instanceof Float32Array || x instanceof Float64Array) return quantize(x);
  const shape = atDoor('quantizeToUint8', () => checkBatch('x', x));
  return { data: quantize(x.data), shape };
}

// Only a plain array can hold a non-finite value here: checkBatch has checked a batch's pixels.
function quantize(src: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v - v !== 0) throw new RangeError(`quantizeToUint8: x[${i}] is ${v}; values must be finite`);
    // float32 steps, as torch evaluates the reference on float32 tensors: boundary cases match exactly.
    const s = Math.fround(Math.fround(127.5 * Math.fround(v)) + 128);
    out[i] = s <= 0 ? 0 : s >= 255 ? 255 : Math.floor(s);
  }
  return out;
}
