/**
 * UnsortedSegmentSum for the wasm backend: one pass over the heap in JS. It is memory-bound (one
 * add per element), so a JS loop costs about what a C++ one would; tf.gather's gradient needs it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { input, type KernelArgs, withScope } from './wasm-backend.js';

/**
 * Kernel function for 'UnsortedSegmentSum' on wasm.
 *
 * Inputs: `x` [...S, ...inner], `segmentIds` int32 of shape S (a prefix of x's shape). Attribute:
 * `numSegments`. Returns [numSegments, ...inner] with the dtype of x: row s is the sum of the rows
 * of x whose id is s. Ids outside [0, numSegments) are dropped, as in TensorFlow.
 */
export function unsortedSegmentSumWasm({ inputs, backend, attrs = {} }: KernelArgs): tf.TensorInfo {
  const x = input('UnsortedSegmentSum', inputs, 'x');
  const segmentIds = input('UnsortedSegmentSum', inputs, 'segmentIds');
  const numSegments = attrs.numSegments as number;
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(
      `UnsortedSegmentSum (wasm): numSegments must be a non-negative integer, got ${numSegments}`,
    );
  }
  const idsRank = segmentIds.shape.length;
  const prefix = x.shape.slice(0, idsRank);
  if (prefix.length !== idsRank || prefix.some((d, i) => d !== segmentIds.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`,
    );
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): segmentIds must be int32, got ${segmentIds.dtype}`);
  }
  const inner = x.shape.slice(idsRank).reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...x.shape.slice(idsRank)];

  return withScope(backend, (s) => {
    const out = s.alloc(outShape, x.dtype);
    const o = s.view(out);
    const xs = s.view(x);
    const ids = s.view(segmentIds);
    o.fill(0);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= numSegments) continue;
      const src = i * inner;
      const dst = id * inner;
      for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
    }
    return out;
  });
}
