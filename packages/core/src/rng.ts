/**
 * One seeded random generator for the whole library.
 *
 * Numbers are generated on the CPU side (xoshiro128** seeded through splitmix32) and uploaded, so the
 * same seed gives bit-identical tensors on every backend. The full state is four uint32 words and can
 * be saved in a checkpoint and restored for exact resume.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Serialisable generator state: four uint32 words (plus a cached spare normal, if any). */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const TWO_POW_32 = 4294967296;

/** A seeded generator (xoshiro128**). Never shares state with Math.random. */
export class Rng {
  private s: Uint32Array;
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`createRng: seed must be a finite number, got ${seed}`);
    const sm = splitmix32(Math.floor(seed) ^ Math.floor(seed / TWO_POW_32));
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float64 in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller in float64; the second value is cached). */
  nextNormal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n) without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) {
      throw new RangeError(`Rng.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Float64 uniform samples in [lo, hi). */
  uniformArray(n: number, lo = 0, hi = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.nextFloat();
    return out;
  }

  /** Float64 normal samples. */
  normalArray(n: number, mean = 0, std = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.nextNormal();
    return out;
  }

  /** A float32 tensor of uniform samples in [lo, hi); the caller owns it. */
  uniform(shape: number[], lo = 0, hi = 1): tf.Tensor {
    const n = sizeOf(shape);
    return tf.tensor(Float32Array.from(this.uniformArray(n, lo, hi)), shape, 'float32');
  }

  /** A float32 tensor of normal samples; the caller owns it. */
  normal(shape: number[], mean = 0, std = 1): tf.Tensor {
    const n = sizeOf(shape);
    return tf.tensor(Float32Array.from(this.normalArray(n, mean, std)), shape, 'float32');
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`Rng.permutation: n must be a non-negative integer, got ${n}`);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Copy of the full state, for checkpoints. */
  getState(): RngState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  /** Restore a state from {@link Rng.getState}. */
  setState(state: RngState): void {
    if (
      !state ||
      !Array.isArray(state.s) ||
      state.s.length !== 4 ||
      state.s.some((v) => !Number.isInteger(v))
    ) {
      throw new TypeError('Rng.setState: state must be {s: [4 uint32 words], spare: number | null}');
    }
    this.s = Uint32Array.from(state.s);
    this.spare = state.spare ?? null;
  }

  /** An independent child generator, derived from (and advancing) this one. */
  fork(): Rng {
    return new Rng(this.nextUint32() * 2097152 + (this.nextUint32() >>> 11));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function sizeOf(shape: number[]): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TypeError(`Rng: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape.reduce((a, b) => a * b, 1);
}

/** Create a seeded generator. The same seed gives the same numbers on every backend. */
export function createRng(seed: number): Rng {
  return new Rng(seed);
}

/** murmur3's 32-bit finaliser. */
function fmix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Fold word `v` into state `h`: a golden-ratio multiply, then the finaliser. */
function mix32(h: number, v: number): number {
  return fmix32(Math.imul(h ^ (v >>> 0), 0x9e3779b1));
}

/**
 * A uint32 seed derived from a base seed and integer coordinates (stream id, epoch, position, ...),
 * so a random choice is a pure function of where it is made (the data loaders' per-sample seeds).
 */
export function deriveSeed(seed: number, ...coords: number[]): number {
  if (!Number.isFinite(seed)) throw new TypeError(`deriveSeed: seed must be a finite number, got ${seed}`);
  let h = mix32(0x2545f491, Math.floor(seed) >>> 0);
  h = mix32(h, Math.floor(seed / TWO_POW_32) >>> 0);
  for (const c of coords) {
    h = mix32(h, c >>> 0);
    h = mix32(h, Math.floor(c / TWO_POW_32) >>> 0);
  }
  return h;
}

/** A generator seeded by {@link deriveSeed}. */
export function derivedRng(seed: number, ...coords: number[]): Rng {
  return createRng(deriveSeed(seed, ...coords));
}

/**
 * A seed for item `index` of stream `stream` under `seed` (an integer in [0, 2^53)), for createRng:
 * the per-image seeds of diffusion sampling, so an image's noise does not depend on how images are
 * batched. It is a different hash than {@link deriveSeed} (and a 53-bit result), kept separate
 * because images sampled with a given seed must stay the same.
 */
export function deriveStreamSeed(seed: number, stream: number, index: number): number {
  if (!Number.isFinite(seed))
    throw new RangeError(`deriveStreamSeed: seed must be a finite number, got ${seed}`);
  const lo = Math.floor(seed) >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  const a = fmix32(lo ^ fmix32(hi + 0x9e3779b9) ^ fmix32(stream * 0x632be5ab + 1));
  const b = fmix32(a ^ fmix32(index + 0x7f4a7c15));
  return (fmix32(b ^ a) >>> 11) * TWO_POW_32 + b;
}
