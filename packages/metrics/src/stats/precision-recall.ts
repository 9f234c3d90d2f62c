/**
 * Improved precision and recall (Kynkäänniemi et al. 2019) as the ADM evaluator computes them.
 *
 * Each point of a set gets a ball whose squared radius is the squared distance to its k-th nearest
 * neighbour in its own set (the point itself sits at index 0 of its sorted distance row, so index k
 * is the k-th other point; duplicates count as neighbours). Precision is the share of generated
 * samples inside at least one real ball, recall the share of real samples inside at least one
 * generated ball, both with an inclusive `<=`. Distances are computed block by block and the k-th
 * smallest is selected with a (k + 1)-slot insertion buffer per row, so memory stays
 * O(blockSize^2 + N k) even at N = 50k.
 *
 * With the default distance kernel and WebAssembly SIMD available, the results are those of the float64
 * kernel, bit for bit, but most distances are only estimated: in float32 on features centred on a
 * common point, with a rigorous bound on the estimate's error, and only a pair whose estimate lies
 * within that bound of a decision (a k-th neighbour, a ball's edge) gets its exact float64 distance.
 * Own-set distances are estimated once per pair. Memory: a float32 copy of the features plus one
 * 1024 x 1024 float32 block.
 *
 * Differences from the reference, on purpose: distances are float64 (ADM computes blocks in float16,
 * falling back to float32 when a block overflows, and stores radii in float32), so points sitting
 * within float16 rounding of a ball's edge may be classified differently.
 */
import { atDoor } from '@ldmae/core';
import { assertFinite, assertFloatArray, checkPositiveInt, type FloatArray } from './checks.js';
import { multiplyABt } from './gemm.js';

import { allSet, fastPrecisionRecall, fastRadii, offer } from './manifold-wasm.js';

import type { setStatsThreads } from './wasm.js';

/**
 * Squared Euclidean distances between every row of `rows` ([numRows, dim]) and every row of `cols`
 * ([numCols, dim]), returned row-major [numRows, numCols] and clamped at 0. Plug in an accelerated
 * implementation (for example a tfjs matmul) through {@link PrecisionRecallOptions.distanceBlock}.
 */
export type DistanceBlockFn = (
  rows: FloatArray,
  numRows: number,
  cols: FloatArray,
  numCols: number,
  dim: number,
) => FloatArray;

/** Options of {@link precisionRecall} and {@link manifoldRadii}. */
export interface PrecisionRecallOptions {
  /** Neighbourhood size. Default 3 (the paper and the ADM evaluator). */
  k?: number;
  /** Rows per distance block; a block holds blockSize^2 float64 distances. Default 1024. */
  blockSize?: number;
  /** Distance kernel; default {@link pairwiseSquaredDistances} (float64, plain JavaScript). */
  distanceBlock?: DistanceBlockFn;
}

/** Improved precision and recall, each in [0, 1]. */
export interface PrecisionRecall {
  /** Share of generated samples inside the real manifold. */
  precision: number;
  /** Share of real samples inside the generated manifold. */
  recall: number;
}

/**
 * Squared Euclidean distances |u|^2 - 2 u.v + |v|^2 in float64, clamped at 0 (the expansion used by
 * the reference; the clamp removes rounding below zero).
 *
 * @param rows - row-major [numRows, dim].
 * @param cols - row-major [numCols, dim].
 * @returns row-major [numRows, numCols].
 */
export function pairwiseSquaredDistances(
  rows: FloatArray,
  numRows: number,
  cols: FloatArray,
  numCols: number,
  dim: number,
): Float64Array {
  atDoor('pairwiseSquaredDistances', () => {
    checkPositiveInt('dim', dim);
    assertFloatArray('rows', rows, numRows * dim);
    assertFloatArray('cols', cols, numCols * dim);
  });
  const a = rows instanceof Float64Array ? rows : Float64Array.from(rows);
  const b = cols instanceof Float64Array ? cols : Float64Array.from(cols);
  const out = new Float64Array(numRows * numCols);
  multiplyABt(a, numRows, b, numCols, dim, out);
  const na = squaredNorms(a, numRows, dim);
  const nb = squaredNorms(b, numCols, dim);
  for (let i = 0; i < numRows; i++) {
    const o = i * numCols;
    for (let j = 0; j < numCols; j++) {
      const d = na[i] - 2 * out[o + j] + nb[j];
      out[o + j] = Math.max(d, 0);
    }
  }
  return out;
}

/**
 * Squared radius of each point's k-NN ball within its own set: the (k+1)-th smallest entry of its
 * distance row, the point itself included.
 *
 * @param features - row-major [N, dim] with N >= k + 1.
 * @returns [N] squared radii.
 */
export function manifoldRadii(
  features: FloatArray,
  dim: number,
  opts: PrecisionRecallOptions = {},
): Float64Array {
  const { k, blockSize, distanceBlock, n } = atDoor('manifoldRadii', () => {
    const o = resolve(opts);
    checkPositiveInt('dim', dim);
    const n = countRows('features', features, dim, o.k);
    assertFinite('features', features);
    return { ...o, n };
  });
  if (opts.distanceBlock === undefined) {
    const fast = fastRadii(features, n, dim, k);
    if (fast !== null) return fast;
  }
  return radii(features, n, dim, k, blockSize, distanceBlock, 'features');
}

/**
 * Improved precision and recall of generated features against real ones (k-NN manifolds, k = 3).
 *
 * Cost: O(N^2 dim) multiply-adds, one pass over the real-fake pairs and half a pass over each set's own
 * pairs. With the default kernel they run as float32 WebAssembly SIMD products (on worker threads as well
 * in Node, see {@link setStatsThreads}) with float64 results: about 40 s on one core at N = 10k and
 * dim = 2048, 25x that at 50k. A custom `distanceBlock` (e.g. `tfDistanceBlock`) is used as given,
 * for every pair.
 *
 * @param realFeatures - row-major [N_real, dim] reference features.
 * @param fakeFeatures - row-major [N_fake, dim] generated features.
 * @throws RangeError when a set has fewer than k + 1 rows or a size does not divide by dim.
 */
export function precisionRecall(
  realFeatures: FloatArray,
  fakeFeatures: FloatArray,
  dim: number,
  opts: PrecisionRecallOptions = {},
): PrecisionRecall {
  const { k, blockSize, distanceBlock, nr, nf } = atDoor('precisionRecall', () => {
    const o = resolve(opts);
    checkPositiveInt('dim', dim);
    const nr = countRows('realFeatures', realFeatures, dim, o.k);
    const nf = countRows('fakeFeatures', fakeFeatures, dim, o.k);
    assertFinite('realFeatures', realFeatures);
    assertFinite('fakeFeatures', fakeFeatures);
    return { ...o, nr, nf };
  });
  if (opts.distanceBlock === undefined) {
    const fast = fastPrecisionRecall(realFeatures, nr, fakeFeatures, nf, dim, k);
    if (fast !== null) return { precision: mean(fast.fakeIn), recall: mean(fast.realIn) };
  }

  const realRadii = radii(realFeatures, nr, dim, k, blockSize, distanceBlock, 'realFeatures');
  const fakeRadii = radii(fakeFeatures, nf, dim, k, blockSize, distanceBlock, 'fakeFeatures');
  const fakeIn = new Uint8Array(nf);
  const realIn = new Uint8Array(nr);
  for (let r0 = 0; r0 < nr; r0 += blockSize) {
    const r1 = Math.min(r0 + blockSize, nr);
    for (let c0 = 0; c0 < nf; c0 += blockSize) {
      const c1 = Math.min(c0 + blockSize, nf);
      // A block can change nothing once every point in it is known to be inside.
      if (allSet(realIn, r0, r1) && allSet(fakeIn, c0, c1)) continue;
      const d = block(distanceBlock, realFeatures, r0, r1, fakeFeatures, c0, c1, dim);
      const nc = c1 - c0;
      for (let i = 0; i < r1 - r0; i++) {
        const rr = realRadii[r0 + i];
        const o = i * nc;
        let inside = realIn[r0 + i];
        for (let j = 0; j < nc; j++) {
          const dij = d[o + j];
          if (dij <= rr) fakeIn[c0 + j] = 1;
          if (dij <= fakeRadii[c0 + j]) inside = 1;
        }
        realIn[r0 + i] = inside;
      }
    }
  }
  return { precision: mean(fakeIn), recall: mean(realIn) };
}

function resolve(opts: PrecisionRecallOptions): Required<PrecisionRecallOptions> {
  const k = opts.k ?? 3;
  const blockSize = opts.blockSize ?? 1024;
  checkPositiveInt('opts.k', k);
  checkPositiveInt('opts.blockSize', blockSize);
  const distanceBlock = opts.distanceBlock ?? pairwiseSquaredDistances;
  if (typeof distanceBlock !== 'function') throw new TypeError('opts.distanceBlock must be a function');
  return { k, blockSize, distanceBlock };
}

function countRows(name: string, x: FloatArray, dim: number, k: number): number {
  assertFloatArray(name, x);
  const n = x.length / dim;
  if (!Number.isInteger(n)) throw new RangeError(`${name} must hold N x ${dim} values, got ${x.length}`);
  if (n < k + 1) throw new RangeError(`${name} has ${n} rows; k = ${k} needs at least ${k + 1}`);
  return n;
}

function radii(
  x: FloatArray,
  n: number,
  dim: number,
  k: number,
  blockSize: number,
  distanceBlock: DistanceBlockFn,
  name: string,
): Float64Array {
  const slots = k + 1;
  // Per row, the `slots` smallest distances seen so far, ascending.
  const best = new Float64Array(n * slots).fill(Number.POSITIVE_INFINITY);
  for (let r0 = 0; r0 < n; r0 += blockSize) {
    const r1 = Math.min(r0 + blockSize, n);
    for (let c0 = 0; c0 < n; c0 += blockSize) {
      const c1 = Math.min(c0 + blockSize, n);
      const d = block(distanceBlock, x, r0, r1, x, c0, c1, dim, name);
      const nc = c1 - c0;
      for (let i = 0; i < r1 - r0; i++) {
        const b = (r0 + i) * slots;
        const o = i * nc;
        for (let j = 0; j < nc; j++) offer(best, b, k, d[o + j]);
      }
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = best[i * slots + k];
  return out;
}

function block(
  distanceBlock: DistanceBlockFn,
  a: FloatArray,
  r0: number,
  r1: number,
  b: FloatArray,
  c0: number,
  c1: number,
  dim: number,
  name = 'distances',
): FloatArray {
  const d = distanceBlock(
    a.subarray(r0 * dim, r1 * dim),
    r1 - r0,
    b.subarray(c0 * dim, c1 * dim),
    c1 - c0,
    dim,
  );
  const want = (r1 - r0) * (c1 - c0);
  if (!(d instanceof Float32Array || d instanceof Float64Array) || d.length !== want) {
    throw new TypeError(
      `precisionRecall: opts.distanceBlock must return a Float32Array or Float64Array of ${want} values ` +
        `(block of ${name})`,
    );
  }
  return d;
}

function mean(flags: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < flags.length; i++) s += flags[i];
  return s / flags.length;
}

function squaredNorms(x: Float64Array, rows: number, dim: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let t = i * dim; t < (i + 1) * dim; t++) s += x[t] * x[t];
    out[i] = s;
  }
  return out;
}
