/**
 * AvgPoolGrad for the wasm backend. At stride 1, dx is the box sum of dy over the window, a
 * depthwise convolution of dy with a constant filter that XNNPACK runs vectorised; tfjs-backend-wasm
 * 4.22's scalar C++ loop took ~8 ms for a [32, 5, 5, 288] 3x3 'same' pool (InceptionV3's branch
 * pools) and ~75 ms at [32, 29, 29, 64]. Strided pools still run wasm's own kernel.
 *
 * It computes what tfjs's AvgPoolGrad computes on every backend, including its treatment of padded
 * windows: the multiplier is 1 / (filter size) even where the forward average counted fewer pixels.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, poolGradient, withScope } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Wraps wasm's 'AvgPoolGrad'. Inputs: `dy` [N, outH, outW, C], `input` [N, H, W, C] (the forward
 * input; only its shape is read). Attributes: `filterSize`, `strides`, `pad`, `dimRoundingMode`.
 * Returns dx [N, H, W, C] float32.
 */
export function avgPoolGradWasm(native: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, info } = poolGradient('AvgPoolGrad', args);
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inChannels: c } = info;
    if (sh !== 1 || sw !== 1) return native(args);
    const { top, bottom, left, right } = info.padInfo;
    // dx[r] sums dy[r + top - i] over the taps i: a correlation with dy padded by fh - 1 - top above.
    const pad = [
      [0, 0],
      [fh - 1 - top, fh - 1 - bottom],
      [fw - 1 - left, fw - 1 - right],
      [0, 0],
    ];
    if (pad.flat().some((p) => p < 0)) return native(args);
    return withScope(args.backend, (s) => {
      const filter = s.alloc([fh, fw, c, 1], 'float32');
      s.view(filter).fill(1 / (fh * fw));
      return s.run(
        'DepthwiseConv2dNative',
        { x: dy, filter },
        { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' },
      );
    });
  };
}
