/**
 * Depthwise convolution gradients for the wasm backend, built on its forward
 * DepthwiseConv2dNative (XNNPACK).
 *
 * Filter gradient: with batch and channels merged into one channel axis k = n*C + c, dW is a
 * depthwise convolution of x (as [1, H, W, N*C]) with dy (as [outH, outW, N*C, M]) whose strides are
 * the original dilations and whose dilations are the original strides, summed over n afterwards.
 *
 * Input gradient: dy is spread onto a zero grid (stride gaps plus the "full" padding), then
 * correlated with the 180-degree-rotated filter seen as multiplier 1 over C*M channels, and the M
 * products of each input channel are summed.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { swappedConv } from './conv2d-backprop-filter.js';
import { convGradient, type KernelArgs, withScope } from './wasm-backend.js';
import { spreadOnZeroGrid } from './zero-grid.js';

/**
 * Kernel function for 'DepthwiseConv2dNativeBackpropFilter' on wasm.
 *
 * Inputs: `x` [N, H, W, C], `dy` [N, outH, outW, C*M]. Attributes: `filterShape` [fh, fw, C, M],
 * `strides`, `pad`, `dilations`, `dimRoundingMode`. Returns dW [fh, fw, C, M] float32.
 */
export function depthwiseConv2dNativeBackpropFilterWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, operand: x, info } = convGradient('DepthwiseConv2dNativeBackpropFilter', args, true);
  const [n, h, w, c] = x.shape;
  const m = (args.attrs!.filterShape as number[])[3];
  const { filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow } = info;

  return withScope(args.backend, (s) => {
    const xT = s.reshape(s.run('Transpose', { x }, { perm: [1, 2, 0, 3] }), [1, h, w, n * c]);
    const dyT = s.reshape(s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }), [oh, ow, n * c, m]);
    const cropped = swappedConv(s, 'DepthwiseConv2dNative', xT, dyT, info); // [1, fh, fw, N*C*M]
    const perImage = s.reshape(cropped, [fh, fw, n, c * m]);
    const summed = n === 1 ? perImage : s.run('Sum', { x: perImage }, { axis: [2], keepDims: false });
    return s.reshape(summed, [fh, fw, c, m]);
  });
}

/**
 * Kernel function for 'DepthwiseConv2dNativeBackpropInput' on wasm.
 *
 * Inputs: `dy` [N, outH, outW, C*M], `filter` [fh, fw, C, M]. Attributes: `inputShape`
 * [N, H, W, C], `strides`, `pad`, `dilations`, `dimRoundingMode`. Returns dx [N, H, W, C] float32.
 */
export function depthwiseConv2dNativeBackpropInputWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, operand: filter, info } = convGradient('DepthwiseConv2dNativeBackpropInput', args, true);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c } = info;
  const m = filter.shape[3];
  const k = c * m;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  // Zero grid of height H + effective filter height - 1, so a valid correlation returns H rows.
  const hd = h + (fh - 1) * dh;
  const wd = w + (fw - 1) * dw;
  const top = (fh - 1) * dh - info.padInfo.top;
  const left = (fw - 1) * dw - info.padInfo.left;

  return withScope(args.backend, (s) => {
    const grid = spreadOnZeroGrid(s, dy, {
      height: hd,
      width: wd,
      strideHeight: sh,
      strideWidth: sw,
      top,
      left,
    });
    const rotated = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [fh, fw, k, 1]);
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: grid, filter: rotated },
      { strides: [1, 1], dilations: [dh, dw], pad: 'valid' },
    ); // [N, H, W, C*M]
    if (m === 1) return conv;
    return s.run('Sum', { x: s.reshape(conv, [n, h, w, c, m]) }, { axis: [4], keepDims: false });
  });
}
