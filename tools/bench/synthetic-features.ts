/** Synthetic Inception-like features shared by the statistics benchmarks (fid.ts, stats.ts). */
import { createRng } from '@ldmae/core';

/**
 * n x dim float32 features with Inception-like structure: a rank-64 signal on a non-zero mean, plus
 * isotropic noise (so the covariance is full rank), non-negative like post-ReLU pool features. Both
 * sets share the mean and the signal basis; `shift` moves the second one a little, so that precision
 * and recall land strictly between 0 and 1 as they do for real models.
 */
export function syntheticFeatures(n: number, dim: number, seed: number, shift: number): Float32Array {
  const shared = createRng(0);
  const r = 64;
  const basis = Float32Array.from(shared.normalArray(r * dim, 0, 1 / Math.sqrt(r)));
  const mean = Float32Array.from(shared.uniformArray(dim, 0.2, 0.6));
  const rng = createRng(seed);
  const out = new Float32Array(n * dim);
  const z = new Float64Array(r);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < r; k++) z[k] = rng.nextNormal() + shift;
    const o = i * dim;
    for (let j = 0; j < dim; j++) out[o + j] = mean[j] + 0.1 * rng.nextNormal();
    for (let k = 0; k < r; k++) {
      const zk = 0.3 * z[k];
      const b = k * dim;
      for (let j = 0; j < dim; j++) out[o + j] += zk * basis[b + j];
    }
    for (let j = 0; j < dim; j++) out[o + j] = Math.max(out[o + j], 0);
  }
  return out;
}
