/**
 * MaxPoolGrad for the wasm backend. tfjs-backend-wasm 4.22's own kernel loses or misplaces the
 * gradient of windows whose values are all negative (measured: a 2x2 pool of negatives gave one 1
 * instead of four), so we replace it with a JS pass that picks the same argmax as the cpu backend
 * (first strictly greatest value in row-major window order; NaN never wins).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, poolGradient, withScope } from './wasm-backend.js';

/**
 * Kernel function for 'MaxPoolGrad' on wasm.
 *
 * Inputs: `dy` [N, outH, outW, C], `input` [N, H, W, C] (the forward input), `output` (unused).
 * Attributes: `filterSize`, `strides`, `pad`, `dimRoundingMode`. Returns dx [N, H, W, C] float32.
 */
export function maxPoolGradWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, x, info } = poolGradient('MaxPoolGrad', args);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;

  return withScope(args.backend, (s) => {
    const dx = s.alloc(x.shape, 'float32');
    const g = s.view(dx);
    const xs = s.view(x);
    const d = s.view(dy);
    g.fill(0);
    const best = new Float64Array(c);
    const where = new Int32Array(c);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < oh; y++) {
        const r0 = Math.max(0, y * sh - top);
        const r1 = Math.min(h, y * sh - top + fh);
        for (let x = 0; x < ow; x++) {
          const c0 = Math.max(0, x * sw - left);
          const c1 = Math.min(w, x * sw - left + fw);
          best.fill(Number.NEGATIVE_INFINITY);
          where.fill(-1);
          for (let r = r0; r < r1; r++) {
            for (let q = c0; q < c1; q++) {
              const base = ((b * h + r) * w + q) * c;
              for (let ch = 0; ch < c; ch++) {
                const v = xs[base + ch];
                if (v > best[ch]) {
                  best[ch] = v;
                  where[ch] = base + ch;
                }
              }
            }
          }
          const o = ((b * oh + y) * ow + x) * c;
          for (let ch = 0; ch < c; ch++) if (where[ch] >= 0) g[where[ch]] += d[o + ch];
        }
      }
    }
    return dx;
  });
}
