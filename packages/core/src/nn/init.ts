/**
 * Weight initialisers. Every one draws from an {@link Rng}, so the same seed gives the same weights on
 * every backend, and returns a new float32 tensor the caller owns.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../rng.js';

function checkShape(shape: number[]): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TypeError(
      `initialiser shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  return shape.reduce((a, b) => a * b, 1);
}

function checkPositive(v: number, name: string): void {
  if (!(Number.isFinite(v) && v > 0))
    throw new RangeError(`initialiser ${name} must be a positive number, got ${v}`);
}

/**
 * Glorot / Xavier uniform: U(-b, b) with b = gain * sqrt(6 / (fanIn + fanOut)), as
 * `torch.nn.init.xavier_uniform_`. For a conv kernel pass fanIn = inC*kh*kw, fanOut = outC*kh*kw.
 * @returns a float32 tensor of `shape`.
 */
export function xavierUniform(rng: Rng, fanIn: number, fanOut: number, shape: number[], gain = 1): tf.Tensor {
  checkShape(shape);
  checkPositive(fanIn, 'fanIn');
  checkPositive(fanOut, 'fanOut');
  const b = gain * Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniform(shape, -b, b);
}

/** Uniform U(lo, hi) of `shape` (float32). */
export function uniform(rng: Rng, shape: number[], lo: number, hi: number): tf.Tensor {
  checkShape(shape);
  if (!(hi >= lo)) throw new RangeError(`uniform: need lo <= hi, got lo=${lo}, hi=${hi}`);
  return rng.uniform(shape, lo, hi);
}

/**
 * PyTorch's default for nn.Linear / nn.Conv2d weights and biases: kaiming_uniform with a = sqrt(5),
 * which reduces to U(-1/sqrt(fanIn), 1/sqrt(fanIn)) (the bias uses the same bound).
 */
export function torchDefaultUniform(rng: Rng, fanIn: number, shape: number[]): tf.Tensor {
  checkPositive(fanIn, 'fanIn');
  const b = 1 / Math.sqrt(fanIn);
  return uniform(rng, shape, -b, b);
}

/** Normal N(mean, std^2) of `shape` (float32). */
export function normal(rng: Rng, shape: number[], std = 1, mean = 0): tf.Tensor {
  checkShape(shape);
  if (!(Number.isFinite(std) && std >= 0)) throw new RangeError(`normal: std must be >= 0, got ${std}`);
  return rng.normal(shape, mean, std);
}

/** Options of {@link truncNormal}. */
export interface TruncNormalOptions {
  std?: number;
  mean?: number;
  /** Lower cut-off in absolute units (timm's `a`). Default -2. */
  a?: number;
  /** Upper cut-off in absolute units (timm's `b`). Default 2. */
  b?: number;
}

/**
 * Truncated normal as timm's `trunc_normal_`: N(mean, std^2) restricted to [a, b], where a and b are
 * absolute values (not multiples of std), drawn by rejection.
 * @returns a float32 tensor of `shape`.
 */
export function truncNormal(rng: Rng, shape: number[], opts: TruncNormalOptions = {}): tf.Tensor {
  const n = checkShape(shape);
  const { std = 1, mean = 0, a = -2, b = 2 } = opts;
  checkPositive(std, 'std');
  if (!(a < b)) throw new RangeError(`truncNormal: need a < b, got a=${a}, b=${b}`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = mean + std * rng.nextNormal();
    let tries = 1;
    while (v < a || v > b) {
      // With the interval far in a tail rejection never ends; say so rather than hang.
      if (++tries > 10_000) {
        throw new RangeError(
          `truncNormal: [a, b] = [${a}, ${b}] holds almost no mass of N(${mean}, ${std}^2)`,
        );
      }
      v = mean + std * rng.nextNormal();
    }
    out[i] = v;
  }
  return tf.tensor(out, shape, 'float32');
}
