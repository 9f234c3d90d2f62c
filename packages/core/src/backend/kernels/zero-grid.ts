/**
 * The "full" input of a transposed convolution: dy spread onto a zero grid with stride - 1 zeros
 * between pixels and the given offsets, so a stride-1 correlation with the rotated filter yields the
 * input gradient. One JS pass over the heap; offsets may be negative (those rows / columns drop).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { KernelScope } from './wasm-backend.js';

/** Geometry of the grid: output size, stride between dy pixels, and where dy's first pixel lands. */
export interface GridSpec {
  height: number;
  width: number;
  strideHeight: number;
  strideWidth: number;
  top: number;
  left: number;
}

/**
 * Spread `dy` [N, outH, outW, K] (float32) onto a zeroed [N, height, width, K] grid: pixel (y, x)
 * lands at (top + y*strideHeight, left + x*strideWidth); pixels that land outside are dropped.
 */
export function spreadOnZeroGrid(s: KernelScope, dy: tf.TensorInfo, spec: GridSpec): tf.TensorInfo {
  const [n, oh, ow, k] = dy.shape;
  const { height: hd, width: wd, strideHeight: sh, strideWidth: sw, top, left } = spec;
  const grid = s.alloc([n, hd, wd, k], 'float32');
  const g = s.view(grid);
  const d = s.view(dy);
  g.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      const p = top + y * sh;
      if (p < 0 || p >= hd) continue;
      for (let x = 0; x < ow; x++) {
        const q = left + x * sw;
        if (q < 0 || q >= wd) continue;
        const src = ((b * oh + y) * ow + x) * k;
        g.set(d.subarray(src, src + k), ((b * hd + p) * wd + q) * k);
      }
    }
  }
  return grid;
}
