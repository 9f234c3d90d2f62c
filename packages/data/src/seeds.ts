/**
 * Per-sample seeds. Every random choice of the pipeline is a pure function of (seed, epoch,
 * position), so results do not depend on worker count, prefetch depth or where a run resumed.
 */
import { createRng, type Rng } from '@ldmae/core';

function mix32(h: number, v: number): number {
  // murmur3-style word mixing (fmix32 on the combined state)
  h = Math.imul(h ^ (v >>> 0), 0x9e3779b1) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A uint32 seed derived from a base seed and integer coordinates (stream id, epoch, position, ...). */
export function deriveSeed(seed: number, ...coords: number[]): number {
  if (!Number.isFinite(seed)) throw new TypeError(`deriveSeed: seed must be a finite number, got ${seed}`);
  let h = mix32(0x2545f491, Math.floor(seed) >>> 0);
  h = mix32(h, Math.floor(seed / 4294967296) >>> 0);
  for (const c of coords) {
    h = mix32(h, c >>> 0);
    h = mix32(h, Math.floor(c / 4294967296) >>> 0);
  }
  return h;
}

/** A generator seeded by {@link deriveSeed}. */
export function derivedRng(seed: number, ...coords: number[]): Rng {
  return createRng(deriveSeed(seed, ...coords));
}

/** Stream ids, so the permutation and the augmentations of one epoch never share a generator. */
export const STREAM = { permutation: 1, augment: 2, latent: 3 } as const;
