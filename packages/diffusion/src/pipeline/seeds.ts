/** Seeds derived from one user seed, so each image's noise does not depend on how images are batched. */

function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seed for item `index` of stream `stream` under `seed` (an integer in [0, 2^53)), for createRng.
 * Distinct (stream, index) pairs give unrelated generators.
 */
export function deriveSeed(seed: number, stream: number, index: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`deriveSeed: seed must be a finite number, got ${seed}`);
  const lo = Math.floor(seed) >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  const a = mix32(lo ^ mix32(hi + 0x9e3779b9) ^ mix32(stream * 0x632be5ab + 1));
  const b = mix32(a ^ mix32(index + 0x7f4a7c15));
  return (mix32(b ^ a) >>> 11) * 4294967296 + b;
}
