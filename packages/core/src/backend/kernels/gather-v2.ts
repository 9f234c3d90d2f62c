/**
 * GatherV2 with batchDims > 0 for the wasm backend. tfjs-backend-wasm 4.22's Gather kernel reads the
 * wrong rows for every batch after the first when batchDims > 0 (measured: x [3,4,2], indices [3],
 * batchDims 1 gave x[0,1] right and zeros / denormals for batches 1 and 2; x [8,64,16] with indices
 * [8,16] got 1792 of 2048 values wrong). We keep the native kernel for batchDims = 0 and turn a
 * batched gather into a plain one over flat row numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type KernelArgs, withScope } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Wrap the native wasm GatherV2 `native` so that batchDims > 0 is computed correctly.
 *
 * Inputs: `x`, `indices` int32. Attributes `axis`, `batchDims` as tf.gather passes them. With x seen
 * as [B, O, D, S] (batch, outer, gathered axis, slice) and indices as [B, I], the result
 * [B, O, I, S] is row (b*O + o)*D + indices[b, i] of x as [B*O*D, S], reshaped to tf.gather's shape.
 */
export function gatherV2WithBatchDims(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const { inputs, backend, attrs = {} } = args;
    const batchDims = (attrs.batchDims as number | undefined) ?? 0;
    if (batchDims === 0) return native(args);
    const x = input('GatherV2', inputs, 'x');
    const indices = input('GatherV2', inputs, 'indices');
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, axis, batchDims);
    const { batchSize: nb, outerSize: no, dimSize: nd, sliceSize: ns, outputShape } = info;
    const perBatch = tf.util.sizeFromShape(indices.shape) / nb;

    return withScope(backend, (s) => {
      if (tf.util.sizeFromShape(x.shape) === 0 || nb * no * perBatch === 0) {
        return s.alloc(outputShape, x.dtype);
      }
      const rows = s.alloc([nb * no * perBatch], 'int32');
      const r = s.view(rows);
      const idx = s.view(indices);
      for (let b = 0; b < nb; b++) {
        for (let i = 0; i < perBatch; i++) {
          const v = idx[b * perBatch + i];
          if (!(v >= 0 && v < nd)) {
            throw new Error(`GatherV2 (wasm): indices[${b * perBatch + i}] = ${v} is not in [0, ${nd - 1}]`);
          }
        }
        for (let o = 0; o < no; o++) {
          const dst = (b * no + o) * perBatch;
          const base = (b * no + o) * nd;
          for (let i = 0; i < perBatch; i++) r[dst + i] = base + idx[b * perBatch + i];
        }
      }
      const flatX = s.reshape(x, [nb * no * nd, ns]);
      const picked = s.track(
        native({ inputs: { x: flatX, indices: rows }, backend, attrs: { axis: 0, batchDims: 0 } }),
      );
      return s.reshape(picked, outputShape);
    });
  };
}
