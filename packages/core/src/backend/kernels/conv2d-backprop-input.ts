/**
 * Conv2DBackpropInput (conv2d's input gradient and conv2dTranspose's forward) for the wasm backend
 * as forward XNNPACK convolutions. tfjs-backend-wasm 4.22's own kernel is a plain C++ loop at about
 * 3 GFLOP/s, 5-10x slower than its forward Conv2D on the same shapes.
 *
 * At stride 1, dx is the correlation of dy, padded by fh - 1 - padTop above, with the filter rotated
 * by 180 degrees and its in/out channels swapped. At stride s, the rows h of dx with the same
 * (h + padTop) mod s only meet the filter taps i = r, r + s, r + 2s, ... so each of the s*s phases is
 * a stride-1 correlation with that sub-filter, written back into every s-th row and column: the same
 * FLOPs as the direct loop, with none of the zeros a dilated-dy formulation would multiply. On
 * small maps, where the phases would mostly multiply padding, or with few input channels, dx is one
 * matrix product of dy with the filter whose columns are then added into place.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { convGradient, type KernelArgs, type KernelScope, withScope } from './wasm-backend.js';

/**
 * Kernel function for 'Conv2DBackpropInput' on wasm.
 *
 * Inputs: `dy` [N, outH, outW, F], `filter` [fh, fw, C, F]. Attributes: `inputShape` [N, H, W, C],
 * `strides`, `pad`, `dataFormat` ('NHWC' only), `dimRoundingMode`. Returns dx [N, H, W, C] float32.
 */
export function conv2DBackpropInputWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, operand: filter, info } = convGradient('Conv2DBackpropInput', args, false, 1);
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = h - 1 + info.padInfo.top - (oh - 1);
  const right = w - 1 + info.padInfo.left - (ow - 1);

  return withScope(args.backend, (s) => {
    if (
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      top >= 0 &&
      left >= 0 &&
      bottom >= 0 &&
      right >= 0
    ) {
      const reversed = s.run('Reverse', { x: filter }, { dims: [0, 1] });
      const rotated = s.run('Transpose', { x: reversed }, { perm: [0, 1, 3, 2] });
      const pad = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
      return s.run(
        'Conv2D',
        { x: dy, filter: rotated },
        { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' },
      );
    }
    return useColumns(info) ? byColumns(s, dy, filter, info) : byPhases(s, dy, filter, info);
  });
}

/** Largest column matrix (elements) the product formulation may allocate. */
const MAX_COLUMNS = 1 << 26;

// The phases multiply the zero padding around small maps (a 3x3 stride-2 filter on a 2x2 dy: 1.8x
// the work) and run inefficient convolutions for few input channels; the product does neither.
function useColumns(info: tf.backend_util.Conv2DInfo): boolean {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  if (n * oh * ow * fh * fw * c > MAX_COLUMNS) return false;
  // Multiply-adds of the phases along one side (padding included), over those of the taps that
  // land inside dx.
  const waste = (size: number, k: number, stride: number, before: number, out: number): number => {
    let work = 0;
    for (let r = 0; r < stride; r++) {
      const first = (((r - before) % stride) + stride) % stride;
      const rowsOfPhase = first < size ? Math.ceil((size - first) / stride) : 0;
      work += rowsOfPhase * Math.max(0, Math.ceil((k - r) / stride));
    }
    let useful = 0;
    for (let o = 0; o < out; o++) {
      for (let t = 0; t < k; t++) {
        const at = o * stride + t - before;
        if (at >= 0 && at < size) useful++;
      }
    }
    return work / Math.max(1, useful);
  };
  const extra = waste(h, fh, sh, info.padInfo.top, oh) * waste(w, fw, sw, info.padInfo.left, ow);
  return c < 8 || extra > 1.25;
}

/**
 * Strided case on small maps: dx as one product, columns[r, (i, j, c)] = sum_f dy[r, f] * W[i, j, c, f]
 * for every dy position r (the filter transposed once to [F, fh * fw * C] for XNNPACK's untransposed
 * product), each column then added into the dx pixel its tap reads: exactly the multiply-adds of the
 * direct loop.
 */
function byColumns(
  s: KernelScope,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
) {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: f } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const rows = n * oh * ow;
  const k = fh * fw * c;
  const wT = s.run('Transpose', { x: s.reshape(filter, [k, f]) }, { perm: [1, 0] });
  const cols = s.run(
    'BatchMatMul',
    { a: s.reshape(dy, [1, rows, f]), b: s.reshape(wT, [1, f, k]) },
    { transposeA: false, transposeB: false },
  );
  const dx = s.alloc([n, h, w, c], 'float32');
  const g = s.view(dx);
  const cv = s.view(cols);
  g.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const base = ((b * oh + y) * ow + x) * k;
        for (let i = 0; i < fh; i++) {
          const row = y * sh + i - pt;
          if (row < 0 || row >= h) continue;
          for (let j = 0; j < fw; j++) {
            const col = x * sw + j - pl;
            if (col < 0 || col >= w) continue;
            const dst = ((b * h + row) * w + col) * c;
            const src = base + (i * fw + j) * c;
            for (let ch = 0; ch < c; ch++) g[dst + ch] += cv[src + ch];
          }
        }
      }
    }
  }
  return dx;
}

/** Strided (or oddly padded) case: one stride-1 convolution per output phase, scattered into dx. */
function byPhases(
  s: KernelScope,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
) {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: f } = info;
  const {
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const { top: pt, left: pl } = info.padInfo;
  const dx = s.alloc([n, h, w, c], 'float32');
  s.view(dx).fill(0);
  for (let rh = 0; rh < sh; rh++) {
    const th = Math.ceil((fh - rh) / sh);
    const h0 = (((rh - pt) % sh) + sh) % sh;
    if (th <= 0 || h0 >= h) continue;
    const uMax = Math.floor((h - 1 + pt - rh) / sh);
    for (let rw = 0; rw < sw; rw++) {
      const tw = Math.ceil((fw - rw) / sw);
      const w0 = (((rw - pl) % sw) + sw) % sw;
      if (tw <= 0 || w0 >= w) continue;
      const vMax = Math.floor((w - 1 + pl - rw) / sw);
      // Sub-filter of taps (rh + t*sh, rw + t2*sw), rotated and laid out [th, tw, F, C].
      const sub = s.alloc([th, tw, f, c], 'float32');
      const sv = s.view(sub);
      const fv = s.view(filter);
      for (let a = 0; a < th; a++) {
        const i = rh + (th - 1 - a) * sh;
        for (let b = 0; b < tw; b++) {
          const j = rw + (tw - 1 - b) * sw;
          const src = (i * fw + j) * c * f;
          const dst = (a * tw + b) * f * c;
          for (let ch = 0; ch < c; ch++)
            for (let o = 0; o < f; o++) sv[dst + o * c + ch] = fv[src + ch * f + o];
        }
      }
      const pad = [
        [0, 0],
        [th - 1, Math.max(0, uMax - oh + 1)],
        [tw - 1, Math.max(0, vMax - ow + 1)],
        [0, 0],
      ];
      const part = s.run(
        'Conv2D',
        { x: dy, filter: sub },
        { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' },
      );
      const [, rows, cols] = part.shape;
      const pv = s.view(part);
      const gv = s.view(dx);
      for (let bi = 0; bi < n; bi++) {
        for (let y = h0; y < h; y += sh) {
          const u = (y + pt - rh) / sh;
          for (let x = w0; x < w; x += sw) {
            const src = ((bi * rows + u) * cols + (x + pl - rw) / sw) * c;
            gv.set(pv.subarray(src, src + c), ((bi * h + y) * w + x) * c);
          }
        }
      }
      s.free(part);
      s.free(sub);
    }
  }
  return dx;
}
