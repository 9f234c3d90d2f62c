/**
 * 2-D rotary position embedding of EVA-02 / LightningDiT (VisionRotaryEmbeddingFast).
 *
 * Each head's `headDim` channels are split in two halves: the first half rotates with the token's
 * row, the second with its column. Within a half of length L = headDim / 2, channels 2i and 2i+1 form a
 * pair rotated by the angle pos * f_i with f_i = theta^(-2i / L), i < L / 2, and the position of row
 * (or column) k on a grid of `len` cells is k / len * ptSeqLen. Pairs are adjacent (interleaved
 * rotate_half): rotate_half(x)[2i] = -x[2i+1], rotate_half(x)[2i+1] = x[2i].
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel } from '../backend/kernels/fused.js';
import { ROPE } from '../backend/kernels/fused-transformer.js';
import { customGrad1 } from './custom-grad.js';
import { Module } from './module.js';

/** Options of {@link RotaryEmbedding2d}. */
export interface RotaryEmbedding2dOptions {
  /** Base of the frequencies. Default 10000. */
  theta?: number;
  /**
   * Sequence length the frequencies were trained for, per axis (EVA's pt_seq_len); positions are
   * rescaled by ptSeqLen / grid. Default: the grid itself (LightningDiT), so positions are 0, 1, 2, ...
   */
  ptSeqLen?: number | [number, number];
}

/**
 * The rotation angles [gridH * gridW, headDim] (row-major tokens, float64) of {@link RotaryEmbedding2d}.
 */
export function rope2dAngles(
  headDim: number,
  grid: [number, number],
  theta = 10000,
  ptSeqLen: [number, number] = grid,
): Float64Array {
  const half = headDim / 2;
  const nf = half / 2;
  const freqs = Array.from({ length: nf }, (_, i) => 1 / theta ** ((2 * i) / half));
  const [gh, gw] = grid;
  const out = new Float64Array(gh * gw * headDim);
  for (let r = 0; r < gh; r++) {
    const pr = (r / gh) * ptSeqLen[0];
    for (let c = 0; c < gw; c++) {
      const pc = (c / gw) * ptSeqLen[1];
      const base = (r * gw + c) * headDim;
      for (let i = 0; i < nf; i++) {
        out[base + 2 * i] = out[base + 2 * i + 1] = pr * freqs[i];
        out[base + half + 2 * i] = out[base + half + 2 * i + 1] = pc * freqs[i];
      }
    }
  }
  return out;
}

function pairOf(v: number | [number, number], name: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !(Number.isFinite(d) && d > 0))) {
    throw new RangeError(
      `RotaryEmbedding2d: ${name} must be a positive number or a pair, got ${JSON.stringify(v)}`,
    );
  }
  return p;
}

/**
 * Rotates queries / keys [..., gridH * gridW, headDim] by their 2-D token position. The cos / sin
 * tables are non-persistent buffers (not in the state dict), like the reference's. One instance is
 * meant to be shared by every attention layer of a model.
 */
export class RotaryEmbedding2d extends Module {
  readonly headDim: number;
  readonly grid: [number, number];
  /** [N, headDim]. */
  readonly freqsCos: tf.Tensor;
  /** [N, headDim]. */
  readonly freqsSin: tf.Tensor;
  /** freqsSin with the even channels negated, so that rotate_half becomes a pair swap. */
  private readonly sinSigned: tf.Tensor;

  constructor(headDim: number, grid: number | [number, number], opts: RotaryEmbedding2dOptions = {}) {
    super();
    if (!Number.isInteger(headDim) || headDim < 4 || headDim % 4 !== 0) {
      throw new RangeError(`RotaryEmbedding2d: headDim must be a positive multiple of 4, got ${headDim}`);
    }
    const g = pairOf(grid, 'grid');
    if (g.some((d) => !Number.isInteger(d)))
      throw new RangeError(`RotaryEmbedding2d: grid must be integers, got [${g}]`);
    const theta = opts.theta ?? 10000;
    if (!(theta > 0)) throw new RangeError(`RotaryEmbedding2d: theta must be > 0, got ${theta}`);
    this.headDim = headDim;
    this.grid = g;
    const ang = rope2dAngles(headDim, g, theta, pairOf(opts.ptSeqLen ?? g, 'ptSeqLen'));
    const cos = Float32Array.from(ang, Math.cos);
    const sin = Float32Array.from(ang, Math.sin);
    const signed = sin.map((v, i) => (i % 2 === 0 ? -v : v));
    const shape = [g[0] * g[1], headDim];
    this.freqsCos = this.registerBuffer('freqs_cos', tf.tensor(cos, shape), { persistent: false });
    this.freqsSin = this.registerBuffer('freqs_sin', tf.tensor(sin, shape), { persistent: false });
    this.sinSigned = this.registerBuffer('sin_signed', tf.tensor(signed, shape), { persistent: false });
  }

  /** Number of tokens N = gridH * gridW. */
  get numTokens(): number {
    return this.grid[0] * this.grid[1];
  }

  /** x * cos + rotate_half(x) * sin for x [..., N, headDim]; returns the same shape. */
  forward(x: tf.Tensor): tf.Tensor {
    const n = this.numTokens;
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.headDim || x.shape[x.rank - 2] !== n) {
      throw new Error(
        `RotaryEmbedding2d.forward: x must have shape [..., ${n}, ${this.headDim}], got [${x.shape}]`,
      );
    }
    if (x.dtype === 'float32' && hasKernel(ROPE)) return this.rotateKernel(x);
    return tf.tidy(() => {
      const swapped = tf.reshape(tf.reverse(tf.reshape(x, [-1, this.headDim / 2, 2]), 2), x.shape);
      return tf.add(tf.mul(x, this.freqsCos), tf.mul(swapped, this.sinSigned));
    });
  }

  // One pass over the wasm heap each way; the gradient is the inverse rotation.
  private readonly rotateKernel = customGrad1((x: tf.Tensor) => {
    const tables = { cos: this.freqsCos, sin: this.sinSigned };
    return {
      value: tf.engine().runKernel(ROPE, { x, ...tables }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor) => [
        tf.engine().runKernel(ROPE, { x: dy, ...tables }, { inverse: true }) as tf.Tensor,
      ],
    };
  });
}
