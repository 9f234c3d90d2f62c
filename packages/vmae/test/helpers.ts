/** Shared test helpers of @ldmae/vmae. */
import { createRng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { createVMAE, type VMAE, type VMAEConfigOverrides } from '../src/index.js';

/** Largest |a - b| over all elements (shapes must match). */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (!tf.util.arraysEqual(a.shape, b.shape)) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** The micro model's overrides of 'f4d4-tiny': 16 px, patch 4 (16 tokens), width 32, one block each side. */
export const MICRO_VMAE = {
  imgSize: 16,
  embedDim: 32,
  depth: 1,
  numHeads: 2,
  decoderEmbedDim: 32,
  decoderDepth: 1,
  decoderNumHeads: 2,
} satisfies VMAEConfigOverrides;

/** A tiny model for fast tests: 'f4d4-tiny' with {@link MICRO_VMAE}, then `overrides`. */
export function microVMAE(overrides: VMAEConfigOverrides = {}, seed = 0): VMAE {
  return createVMAE('f4d4-tiny', { ...MICRO_VMAE, ...overrides }, { rng: createRng(seed) });
}

/** Uniform images in [-1, 1], [B, H, W, 3]. */
export function randomImages(b: number, h: number, w: number, seed = 1): tf.Tensor4D {
  return createRng(seed).uniform([b, h, w, 3], -1, 1) as tf.Tensor4D;
}
