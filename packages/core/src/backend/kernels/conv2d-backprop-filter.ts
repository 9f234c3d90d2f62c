/**
 * Conv2DBackpropFilter for the wasm backend, as one forward convolution (XNNPACK) on transposed
 * operands.
 *
 * dW[i,j,c,f] = sum_{n,y,x} xpad[n, y*sh + i*dh, x*sw + j*dw, c] * dy[n,y,x,f] is a convolution
 * whose batch is the input channel c, whose channels are the batch n, and whose filter is dy laid
 * out as [outH, outW, N, F]: the original strides become dilations and the original dilations
 * become strides. The output is padded at the bottom/right just enough to reach the filter size and
 * cropped when rows the forward pass never read would make it larger.
 *
 * A 1x1, stride-1, unpadded filter is x^T dy instead: an explicit transpose and an untransposed
 * matmul, 3-4x faster than the convolution (or than matMul with transposeA) on wasm.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { convGradient, type KernelArgs, type KernelScope, withScope } from './wasm-backend.js';

/**
 * Kernel function for 'Conv2DBackpropFilter' on wasm.
 *
 * Inputs: `x` [N, H, W, C], `dy` [N, outH, outW, F]. Attributes as tfjs passes them: `filterShape`
 * [fh, fw, C, F], `strides`, `pad` ('same' | 'valid' | number | explicit [[0,0],[t,b],[l,r],[0,0]]),
 * `dataFormat` ('NHWC' only), `dimRoundingMode`, and optionally `dilations` (tfjs's own gradient
 * never sends them; supported for direct callers). Returns dW [fh, fw, C, F] float32.
 */
export function conv2DBackpropFilterWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, operand: x, info } = convGradient('Conv2DBackpropFilter', args, false);
  const { inChannels: c, inHeight: h, inWidth: w, outChannels: f, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;

  return withScope(args.backend, (s) => {
    if (fh === 1 && fw === 1 && oh === h && ow === w && sh === 1 && sw === 1 && top === 0 && left === 0) {
      // A 1x1 stride-1 unpadded conv is a matmul; XNNPACK's matmul only runs untransposed operands.
      const rows = x.shape[0] * h * w;
      const xT = s.run('Transpose', { x: s.reshape(x, [rows, c]) }, { perm: [1, 0] });
      const a = s.reshape(xT, [1, c, rows]);
      const b = s.reshape(dy, [1, rows, f]);
      const prod = s.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
      return s.reshape(prod, [1, 1, c, f]);
    }
    const xT = s.run('Transpose', { x }, { perm: [3, 1, 2, 0] }); // [C, H, W, N]
    const dyT = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }); // [outH, outW, N, F]
    const cropped = swappedConv(s, 'Conv2D', xT, dyT, info, { dataFormat: 'NHWC' }); // [C, fh, fw, F]
    return s.run('Transpose', { x: cropped }, { perm: [1, 2, 0, 3] }); // [fh, fw, C, F]
  });
}

/**
 * The filter gradient as one forward convolution `op` of `x` with `dy` as its filter (both
 * transposed by the caller): the original dilations become strides and the original strides
 * dilations; the output is padded at the bottom/right just enough to reach the filter size and
 * cropped to [B, fh, fw, K] when rows the forward pass never read would make it larger.
 */
export function swappedConv(
  s: KernelScope,
  op: 'Conv2D' | 'DepthwiseConv2dNative',
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const bottom = Math.max(0, (fh - 1) * dh + (oh - 1) * sh + 1 - h - top);
  const right = Math.max(0, (fw - 1) * dw + (ow - 1) * sw + 1 - w - left);
  const pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  const conv = s.run(op, { x, filter: dy }, { strides: [dh, dw], dilations: [sh, sw], pad, ...attrs });
  const [b, ch, cw, k] = conv.shape;
  if (ch === fh && cw === fw) return conv;
  return s.run('Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [b, fh, fw, k] });
}
