/**
 * Transpose for the wasm backend, copying on the heap in JavaScript. tfjs-backend-wasm 4.22's C++
 * Transpose took ~1.5 ms for a [1024, 192] matrix (the weight gradients of every Linear in a
 * LightningDiT-Ti/1 step: 7% of it); this takes a few tenths of a millisecond.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type KernelArgs, type WasmBackend } from './wasm-backend.js';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** Rows per tile of {@link swapLastTwo}. */
const TILE = 32;

/**
 * The permutation on the fewest axes that moves the same data: axes of size 1 dropped, and axes that
 * stay adjacent and in order merged. Returns the input's merged dims and the merged permutation.
 */
export function mergeAxes(
  shape: readonly number[],
  perm: readonly number[],
): { dims: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a] !== 1);
  // Runs of input axes that follow each other in the output: each becomes one axis.
  const runs: number[][] = [];
  for (const a of kept) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === a) last.push(a);
    else runs.push([a]);
  }
  // Number the runs by where they sit in the input.
  const order = runs.map((_, i) => i).sort((i, j) => runs[i][0] - runs[j][0]);
  const dims = order.map((i) => runs[i].reduce((p, a) => p * shape[a], 1));
  const rank = new Array<number>(runs.length);
  order.forEach((i, k) => {
    rank[i] = k;
  });
  return { dims, perm: rank };
}

/**
 * `batch` row-major [rows, cols] matrices of `src` transposed into `dst` ([cols, rows] each), in tiles
 * of TILE rows so that the strided reads of a tile stay in cache while its output rows are written
 * in order. Float32 only, so that the element accesses stay monomorphic.
 */
function swapLastTwo(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * size;
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const i1 = Math.min(i0 + TILE, rows);
      for (let j = 0; j < cols; j++) {
        const to = base + j * rows;
        const from = base + j;
        for (let i = i0; i < i1; i++) dst[to + i] = src[from + i * cols];
      }
    }
  }
}

/**
 * Wrap the native wasm Transpose `native` (kept for strings). Inputs: `x`. Attribute `perm`: output
 * axis i is input axis perm[i]. Returns the permuted tensor, of x's dtype.
 */
export function transposeWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = input('Transpose', args.inputs, 'x');
    const perm = (args.attrs?.perm ?? []) as number[];
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0) return native(args);
    // Ours only where tfjs's loop is slow: swaps of the last two (merged) axes, batched or not.
    const { dims, perm: p } = mergeAxes(x.shape, perm);
    const r = dims.length;
    const swap =
      r >= 2 && p[r - 2] === r - 1 && p[r - 1] === r - 2 && p.slice(0, r - 2).every((a, i) => a === i);
    if (!swap) return native(args);
    const be = args.backend as WasmBackend;
    const out = be.makeOutput(
      perm.map((a) => x.shape[a]),
      x.dtype,
    );
    const src = be.typedArrayFromHeap(x) as Float32Array;
    const dst = be.typedArrayFromHeap(out) as Float32Array;
    swapLastTwo(
      src,
      dst,
      dims.slice(0, r - 2).reduce((a, b) => a * b, 1),
      dims[r - 2],
      dims[r - 1],
    );
    return out;
  };
}
