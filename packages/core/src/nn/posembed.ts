/**
 * Fixed 2-D sine-cosine position embeddings (MAE / DiT) and resizing of a learned or fixed grid.
 */
import * as tf from '@tensorflow/tfjs-core';

function gridPair(v: number | [number, number], name: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new RangeError(`${name} must be a positive integer or a pair [h, w], got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Options of {@link get2dSincosPosEmbed}. */
export interface SincosPosEmbedOptions {
  /** Prepend one row of zeros for a class token (MAE's cls_token=True). Default false. */
  clsToken?: boolean;
}

/**
 * MAE's get_2d_sincos_pos_embed: row n = r * gridW + c (row-major tokens) is
 * [sin(c w_k), cos(c w_k), sin(r w_k), cos(r w_k)] with w_k = 10000^(-k / (D/4)), k < D/4: the first
 * half of the channels encodes the column, the second half the row (MAE's meshgrid puts w first).
 * Computed in float64 and rounded to float32 as the reference's `.float()`.
 * @param embedDim D, a multiple of 4.
 * @param gridSize side of a square grid, or [gridH, gridW].
 * @returns Float32Array of shape [(clsToken ? 1 : 0) + gridH * gridW, D], row-major.
 */
export function get2dSincosPosEmbed(
  embedDim: number,
  gridSize: number | [number, number],
  opts: SincosPosEmbedOptions = {},
): Float32Array {
  if (!Number.isInteger(embedDim) || embedDim < 4 || embedDim % 4 !== 0) {
    throw new RangeError(`get2dSincosPosEmbed: embedDim must be a positive multiple of 4, got ${embedDim}`);
  }
  const [gh, gw] = gridPair(gridSize, 'get2dSincosPosEmbed: gridSize');
  const q = embedDim / 4;
  const omega = Array.from({ length: q }, (_, k) => 1 / 10000 ** (k / q));
  const extra = opts.clsToken ? 1 : 0;
  const out = new Float32Array((extra + gh * gw) * embedDim);
  for (let r = 0; r < gh; r++) {
    for (let c = 0; c < gw; c++) {
      const base = (extra + r * gw + c) * embedDim;
      for (let k = 0; k < q; k++) {
        out[base + k] = Math.sin(c * omega[k]);
        out[base + q + k] = Math.cos(c * omega[k]);
        out[base + 2 * q + k] = Math.sin(r * omega[k]);
        out[base + 3 * q + k] = Math.cos(r * omega[k]);
      }
    }
  }
  return out;
}

/** Options of {@link resizePosEmbed}. */
export interface ResizePosEmbedOptions {
  /** Leading rows (class / distillation tokens) copied unchanged. Default 0. */
  extraTokens?: number;
}

/**
 * Resizes a grid of position embeddings bilinearly (PyTorch's interpolate(mode='bilinear',
 * align_corners=False), i.e. half-pixel centres), for fine-tuning at another resolution.
 * @param posEmbed [E + fromH * fromW, D] or [1, E + fromH * fromW, D], E = extraTokens.
 * @returns [E + toH * toW, D] (or with the leading 1 if the input had it); the caller owns it.
 */
export function resizePosEmbed(
  posEmbed: tf.Tensor,
  from: number | [number, number],
  to: number | [number, number],
  opts: ResizePosEmbedOptions = {},
): tf.Tensor {
  const [fh, fw] = gridPair(from, 'resizePosEmbed: from');
  const [th, tw] = gridPair(to, 'resizePosEmbed: to');
  const extra = opts.extraTokens ?? 0;
  if (!Number.isInteger(extra) || extra < 0) {
    throw new RangeError(`resizePosEmbed: extraTokens must be a non-negative integer, got ${extra}`);
  }
  const batched = posEmbed.rank === 3;
  if (
    !(posEmbed.rank === 2 || (batched && posEmbed.shape[0] === 1)) ||
    posEmbed.shape.at(-2) !== extra + fh * fw
  ) {
    throw new Error(
      `resizePosEmbed: posEmbed must have shape [${extra + fh * fw}, D] or [1, ${extra + fh * fw}, D], got [${posEmbed.shape}]`,
    );
  }
  return tf.tidy(() => {
    const d = posEmbed.shape[posEmbed.rank - 1];
    const flat = tf.reshape(posEmbed, [extra + fh * fw, d]);
    const grid = tf.reshape(tf.slice(flat, [extra, 0], [fh * fw, d]), [1, fh, fw, d]) as tf.Tensor4D;
    const resized = tf.reshape(tf.image.resizeBilinear(grid, [th, tw], false, true), [th * tw, d]);
    const out = extra > 0 ? tf.concat([tf.slice(flat, [0, 0], [extra, d]), resized], 0) : resized;
    return batched ? tf.expandDims(out, 0) : out;
  });
}
