/**
 * MAE's per-sample random masking, planned on the CPU, and the row gathers that apply it.
 *
 * The plan is MAE's: argsort of uniform noise per sample (small noise = kept), the first
 * int(L * (1 - ratio)) tokens of that order are kept, `ids_restore` is the inverse permutation and
 * the binary mask (1 = removed) is in the original token order. All index arithmetic happens in JS on
 * small arrays; the tensors only see two gathers.
 *
 * tf.gather's own gradient is an UnsortedSegmentSum (a scatter-add). Every gather here is injective
 * (each source row is read at most once), so its gradient is itself a gather with the inverse index
 * (rows never read get zeros): {@link takeRows} differentiates that way, with no scatter kernel.
 */
import type { Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** A masking decision for a batch: which tokens each sample keeps, and how to undo the shuffle. */
export interface MaskPlan {
  /** B. */
  batch: number;
  /** L, tokens per sample. */
  tokens: number;
  /** K = int(L * (1 - ratio)), tokens kept per sample. */
  keep: number;
  /** The mask ratio the plan was made for. */
  ratio: number;
  /** `[B * L]`: per sample, token indices sorted by noise (MAE's ids_shuffle); the first K are kept. */
  idsShuffle: Int32Array;
  /** `[B * L]`: the inverse permutation (MAE's ids_restore). */
  idsRestore: Int32Array;
  /** `[B * L]`: 1 = masked (removed from the encoder's input), 0 = visible, in token order. */
  mask: Float32Array;
}

/**
 * Tokens kept per sample, exactly as the reference computes it: Python's int(L * (1 - ratio)), i.e.
 * the float64 product truncated (49 tokens at ratio 0.25 keep 36; 64 keep 48).
 */
export function keptTokens(tokens: number, ratio: number): number {
  return Math.trunc(tokens * (1 - ratio));
}

/**
 * Plan MAE's random masking for `batch` samples of `tokens` tokens.
 * @param noise where the per-sample order comes from: an Rng (B * L uniforms are drawn) or explicit
 *   noise of length B * L (row-major [B, L], as torch.rand(N, L)).
 */
export function planMasking(
  batch: number,
  tokens: number,
  ratio: number,
  noise: Rng | ArrayLike<number>,
): MaskPlan {
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`planMasking: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(tokens) || tokens < 1)
    throw new RangeError(`planMasking: tokens must be a positive integer, got ${tokens}`);
  if (!(Number.isFinite(ratio) && ratio >= 0 && ratio < 1))
    throw new RangeError(`planMasking: maskRatio must be in [0, 1), got ${ratio}`);
  const keep = keptTokens(tokens, ratio);
  if (keep < 1) {
    throw new RangeError(`planMasking: maskRatio ${ratio} keeps no token of ${tokens}; lower the ratio`);
  }
  const n = batch * tokens;
  let values: ArrayLike<number>;
  if (noise && typeof (noise as Rng).uniformArray === 'function') values = (noise as Rng).uniformArray(n);
  else {
    values = noise as ArrayLike<number>;
    if (!values || typeof values.length !== 'number' || values.length !== n) {
      throw new Error(`planMasking: noise must be an Rng or ${n} numbers ([B, L] = [${batch}, ${tokens}])`);
    }
  }
  const idsShuffle = new Int32Array(n);
  const idsRestore = new Int32Array(n);
  const mask = new Float32Array(n);
  const order = new Array<number>(tokens);
  for (let b = 0; b < batch; b++) {
    const off = b * tokens;
    for (let i = 0; i < tokens; i++) order[i] = i;
    // Ties (vanishingly rare in uniform noise) keep token order, as a stable argsort would.
    order.sort((i, j) => values[off + i] - values[off + j] || i - j);
    for (let r = 0; r < tokens; r++) {
      idsShuffle[off + r] = order[r];
      idsRestore[off + order[r]] = r;
      mask[off + order[r]] = r < keep ? 0 : 1;
    }
  }
  return { batch, tokens, keep, ratio, idsShuffle, idsRestore, mask };
}

/**
 * Flat row numbers that gather each sample's kept tokens from x viewed as [B * L, D]:
 * row b * K + k reads b * L + ids_shuffle[b, k].
 */
export function keptRows(plan: MaskPlan): Int32Array {
  const { batch, tokens, keep, idsShuffle } = plan;
  const rows = new Int32Array(batch * keep);
  for (let b = 0; b < batch; b++)
    for (let k = 0; k < keep; k++) rows[b * keep + k] = b * tokens + idsShuffle[b * tokens + k];
  return rows;
}

/**
 * Flat row numbers that put the kept tokens [B * K, D] back in token order [B * L, D]: row b * L + l
 * reads b * K + ids_restore[b, l] for a visible token and -1 (a zero row, where the mask token goes)
 * for a masked one.
 */
export function restoreRows(plan: MaskPlan): Int32Array {
  const { batch, tokens, keep, idsRestore } = plan;
  const rows = new Int32Array(batch * tokens);
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < tokens; l++) {
      const r = idsRestore[b * tokens + l];
      rows[b * tokens + l] = r < keep ? b * keep + r : -1;
    }
  }
  return rows;
}

/**
 * How {@link takeRows} moves rows: 'gather' (tf.gather, on any backend) or 'host' (a JS copy of the
 * backend's data, for backends whose tensors live in CPU memory: wasm's Gather kernel takes ~5 ms for
 * 100k floats where reading, copying and re-uploading them takes under 1 ms). 'auto' (default) picks
 * 'host' on the wasm and cpu backends and 'gather' elsewhere (GPU backends would pay a readback).
 */
export type TakeRowsImpl = 'auto' | 'gather' | 'host';

/**
 * out[m] = x[rows[m]] (a zero row where rows[m] = -1), differentiable in x through the inverse gather.
 * @param x [N, D] float32.
 * @param rows M row numbers in [-1, N); each row of x may be read at most once.
 * @returns [M, D]; the caller owns it.
 */
export function takeRows(x: tf.Tensor, rows: Int32Array, impl: TakeRowsImpl = 'auto'): tf.Tensor2D {
  const n = x.shape[0] as number;
  const m = rows.length;
  // inverse[i] = the output row that reads x's row i, or -1 when none does.
  const inverse = new Int32Array(n).fill(-1);
  for (let j = 0; j < m; j++) {
    const r = rows[j];
    if (r === -1) continue;
    if (!Number.isInteger(r) || r < 0 || r >= n)
      throw new RangeError(`takeRows: rows[${j}] = ${r} is outside [-1, ${n})`);
    if (inverse[r] !== -1) throw new Error(`takeRows: row ${r} is read twice (rows must be injective)`);
    inverse[r] = j;
  }
  const host = impl === 'host' || (impl === 'auto' && HOST_BACKENDS.has(tf.getBackend()));
  const move = host ? copyRowsHost : copyRowsGather;
  const f = tf.customGrad(((xx: tf.Tensor) => {
    return {
      value: move(xx, rows),
      gradFunc: (dy: tf.Tensor) => [move(dy, inverse)],
    };
    // tf.customGrad's declared type mixes the inputs with the save function.
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (xx: tf.Tensor) => tf.Tensor;
  return tf.tidy(() => f(x) as tf.Tensor2D);
}

const HOST_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * out[j] = x[idx[j]] for a tensor that needs no gradient (e.g. a fixed positional embedding); rows
 * may repeat. Uses {@link takeRows}' 'auto' choice of host copy or gather. The caller (the VMAE, with
 * rows of a checked masking plan) passes valid rows.
 * @param x [N, D]. @returns [M, D]; the caller owns it.
 */
export function selectRows(x: tf.Tensor, idx: Int32Array): tf.Tensor2D {
  const host = HOST_BACKENDS.has(tf.getBackend());
  return tf.tidy(() => (host ? copyRowsHost(x, idx) : copyRowsGather(x, idx)));
}

/** out[j] = x[idx[j]], zeros where idx[j] = -1, through tf.gather on a zero-padded copy. */
function copyRowsGather(x: tf.Tensor, idx: Int32Array): tf.Tensor2D {
  const [n, d] = x.shape as [number, number];
  const pad = idx.includes(-1);
  const src = pad ? tf.concat([x, tf.zeros([1, d])], 0) : x;
  const at = pad ? idx.map((r) => (r === -1 ? n : r)) : idx;
  return tf.gather(src, tf.tensor1d(at, 'int32')) as tf.Tensor2D;
}

/** The same as {@link copyRowsGather}, as a copy of the backend's CPU-side data. */
function copyRowsHost(x: tf.Tensor, idx: Int32Array): tf.Tensor2D {
  const d = x.shape[1] as number;
  const src = x.dataSync() as Float32Array;
  const out = new Float32Array(idx.length * d);
  for (let j = 0; j < idx.length; j++) {
    const r = idx[j];
    if (r >= 0) out.set(src.subarray(r * d, r * d + d), j * d);
  }
  return tf.tensor2d(out, [idx.length, d]);
}
