/** Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_` (2-norm). */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';

/** Result of {@link clipByGlobalNorm}. */
export interface ClipResult {
  /** Clipped gradients by the same names (new tensors; the caller owns them). */
  grads: Record<string, tf.Tensor>;
  /** Global 2-norm of the gradients before clipping (may be NaN / Infinity; then nothing is finite). */
  norm: number;
}

/**
 * Scale every gradient by `min(1, maxNorm / (norm + 1e-6))`, where `norm` is the 2-norm of all
 * gradients taken together. Returns new tensors (the inputs stay the caller's) and the norm before
 * clipping, read back to JS (one device sync).
 * @param grads name -> gradient of any shape (float32); null entries are skipped.
 * @param maxNorm the largest allowed global norm (> 0).
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor | null>, maxNorm: number): ClipResult {
  const entries = checkClipArgs(grads, maxNorm, 'clipByGlobalNorm');
  if (entries.length === 0) return { grads: {}, norm: 0 };
  const normT = globalNorm(entries);
  const norm = normT.dataSync()[0];
  normT.dispose();
  return { grads: scaleGrads(entries, maxNorm, norm), norm };
}

/**
 * {@link clipByGlobalNorm} with an asynchronous read of the norm: the one to use on WebGPU in Node,
 * which cannot download data synchronously.
 */
export async function clipByGlobalNormAsync(
  grads: Record<string, tf.Tensor | null>,
  maxNorm: number,
): Promise<ClipResult> {
  const entries = checkClipArgs(grads, maxNorm, 'clipByGlobalNormAsync');
  if (entries.length === 0) return { grads: {}, norm: 0 };
  const normT = globalNorm(entries);
  const norm = (await normT.data())[0];
  normT.dispose();
  return { grads: scaleGrads(entries, maxNorm, norm), norm };
}

function checkClipArgs(
  grads: Record<string, tf.Tensor | null>,
  maxNorm: number,
  fn: string,
): [string, tf.Tensor][] {
  if (!grads || typeof grads !== 'object')
    throw new TypeError(`${fn}: grads must be a {name: tf.Tensor} map`);
  checkNumber(maxNorm, `${fn}: maxNorm`, 'a finite number > 0');
  const entries: [string, tf.Tensor][] = [];
  for (const [k, g] of Object.entries(grads)) {
    if (g == null) continue;
    if (!(g instanceof tf.Tensor)) throw new TypeError(`${fn}: grads['${k}'] must be a tf.Tensor`);
    entries.push([k, g]);
  }
  return entries;
}

function globalNorm(entries: [string, tf.Tensor][]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(entries.map(([, g]) => tf.sum(tf.square(g))))) as tf.Scalar);
}

function scaleGrads(
  entries: [string, tf.Tensor][],
  maxNorm: number,
  norm: number,
): Record<string, tf.Tensor> {
  const coef = maxNorm / (norm + 1e-6);
  const out: Record<string, tf.Tensor> = {};
  tf.tidy(() => {
    // torch multiplies by the clamped coefficient even when it is 1 (or NaN); a copy keeps ownership simple.
    const scale = coef < 1 || Number.isNaN(coef) ? tf.scalar(coef) : null;
    for (const [k, g] of entries) out[k] = tf.keep(scale ? tf.mul(g, scale) : g.clone());
  });
  return out;
}
