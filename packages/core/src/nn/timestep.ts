/** Sinusoidal timestep features and DiT's TimestepEmbedder. */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { silu } from './activations.js';
import { Linear, type LinearInit } from './linear.js';
import { Module } from './module.js';

/**
 * DiT's TimestepEmbedder.timestep_embedding: [cos(t f_0..f_{h-1}), sin(t f_0..f_{h-1})] with
 * h = floor(dim / 2) and f_i = exp(-ln(maxPeriod) * i / h); an odd `dim` gets a trailing zero column.
 * @param t [B] timesteps (may be fractional), a tensor or numbers.
 * @returns [B, dim] float32; the caller owns it.
 */
export function timestepEmbedding(
  t: tf.Tensor | ArrayLike<number>,
  dim: number,
  maxPeriod = 10000,
): tf.Tensor2D {
  checkNumber(dim, 'timestepEmbedding: dim', 'a positive integer');
  if (!(maxPeriod > 0)) throw new RangeError(`timestepEmbedding: maxPeriod must be > 0, got ${maxPeriod}`);
  if (t instanceof tf.Tensor && t.rank !== 1) {
    throw new Error(`timestepEmbedding: t must have shape [B], got [${t.shape}]`);
  }
  return tf.tidy(() => {
    const tt = t instanceof tf.Tensor ? tf.cast(t, 'float32') : tf.tensor1d(Array.from(t), 'float32');
    const half = Math.floor(dim / 2);
    const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
    const args = tf.mul(tf.expandDims(tt, 1), tf.tensor2d(freqs, [1, half]));
    const parts = [tf.cos(args), tf.sin(args)];
    if (dim % 2) parts.push(tf.zeros([tt.shape[0], 1]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  });
}

/** Options of {@link TimestepEmbedder}. */
export interface TimestepEmbedderOptions {
  rng: Rng;
  /** Width of the sinusoidal features. Default 256 (DiT). */
  frequencyEmbeddingSize?: number;
  /** Default 10000. */
  maxPeriod?: number;
  /** Weight initialisation of both linears. Default normal(std 0.02), zero bias, as DiT. */
  init?: LinearInit;
}

/** DiT's nn.Sequential(Linear, SiLU, Linear) of {@link TimestepEmbedder}, so the names are `0` and `2`. */
export class TimestepMlp extends Module {
  readonly first: Linear;
  readonly second: Linear;
  constructor(first: Linear, second: Linear) {
    super();
    this.first = this.registerModule('0', first);
    this.second = this.registerModule('2', second);
  }
}

/**
 * DiT's TimestepEmbedder: t [B] -> mlp(timestepEmbedding(t, 256)) [B, hidden] with
 * mlp = Linear(256, hidden), SiLU, Linear(hidden, hidden), named `mlp.0` and `mlp.2`.
 */
export class TimestepEmbedder extends Module {
  readonly hidden: number;
  readonly frequencyEmbeddingSize: number;
  readonly maxPeriod: number;
  readonly mlp: TimestepMlp;

  constructor(hidden: number, opts: TimestepEmbedderOptions) {
    super();
    if (!opts?.rng) throw new TypeError('TimestepEmbedder: opts.rng (an Rng from createRng) is required');
    this.hidden = hidden;
    this.frequencyEmbeddingSize = opts.frequencyEmbeddingSize ?? 256;
    this.maxPeriod = opts.maxPeriod ?? 10000;
    const lin = { rng: opts.rng, init: opts.init ?? { normalStd: 0.02 } };
    this.mlp = this.registerModule(
      'mlp',
      new TimestepMlp(new Linear(this.frequencyEmbeddingSize, hidden, lin), new Linear(hidden, hidden, lin)),
    );
  }

  /** t [B] -> [B, hidden]. */
  forward(t: tf.Tensor | ArrayLike<number>): tf.Tensor2D {
    return tf.tidy(() => {
      const f = timestepEmbedding(t, this.frequencyEmbeddingSize, this.maxPeriod);
      return this.mlp.second.forward(silu(this.mlp.first.forward(f))) as tf.Tensor2D;
    });
  }
}
