/** Tiny deterministic models for the evaluation tests, whose outputs can be computed by hand. */
import { type Autoencoder, DiagonalGaussian, type LatentNormalization } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { ExtractedFeatures, FeatureExtractor, LpipsLike } from '../src/index.js';

/**
 * Encode: 2x2 average pool (a deterministic posterior, logvar -30); decode: nearest-neighbour 2x
 * upsampling. A reconstruction is the image with each 2x2 block replaced by its mean.
 */
export class PoolAutoencoder implements Autoencoder {
  readonly name = 'avgpool2';
  latentNormalization: LatentNormalization | null = null;
  decodeCalls = 0;
  encode(x: tf.Tensor4D): DiagonalGaussian {
    return DiagonalGaussian.deterministic(tf.avgPool(x, 2, 2, 'valid'));
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.decodeCalls++;
    const [, h, w] = z.shape;
    return tf.image.resizeNearestNeighbor(z, [2 * h, 2 * w]);
  }
  latentShape([h, w, c]: [number, number, number]): [number, number, number] {
    return [h / 2, w / 2, c];
  }
  dispose(): void {}
}

/** Reconstruction of {@link PoolAutoencoder}, computed in plain JavaScript on NHWC data. */
export function poolReconstruct(x: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y += 2)
      for (let xx = 0; xx < w; xx += 2)
        for (let ch = 0; ch < c; ch++) {
          const at = (dy: number, dx: number) => ((i * h + y + dy) * w + xx + dx) * c + ch;
          const m = Math.fround((x[at(0, 0)] + x[at(0, 1)] + x[at(1, 0)] + x[at(1, 1)]) / 4);
          for (const [dy, dx] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ])
            out[at(dy, dx)] = m;
        }
  return out;
}

/** Hand-checkable features of one image: channel means, mean square, and so on. */
export function fakeFeatures(x: Float32Array, [n, h, w, c]: number[]): Required<ExtractedFeatures> {
  const pool = new Float32Array(n * 4);
  const spatial = new Float32Array(n * 3);
  const logits = new Float32Array(n * 3);
  const per = h * w * c;
  for (let i = 0; i < n; i++) {
    const m = [0, 0, 0];
    let sq = 0;
    let top = 0;
    let max = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < h * w; p++)
      for (let ch = 0; ch < c; ch++) {
        const v = x[i * per + p * c + ch];
        m[ch] += v / (h * w);
        sq += (v * v) / per;
        if (p < (h * w) / 2) top += v / (per / 2);
        max = Math.max(max, v);
      }
    pool.set([m[0], m[1], m[2], sq], i * 4);
    spatial.set([top, max, m[0] - m[1]], i * 3);
    logits.set([3 * m[0], 3 * m[1], 3 * m[2]], i * 3);
  }
  return { pool, spatial, logits };
}

/** A {@link FeatureExtractor} over {@link fakeFeatures}, counting its calls. */
export function fakeExtractor(
  name = 'fake-extractor',
  withExtras = true,
): FeatureExtractor & { calls: number; disposed: boolean } {
  return {
    name,
    preprocessing: 'none',
    dims: withExtras ? { pool: 4, spatial: 3, logits: 3 } : { pool: 4 },
    calls: 0,
    disposed: false,
    async extract(images: tf.Tensor4D) {
      this.calls++;
      const f = fakeFeatures((await images.data()) as Float32Array, images.shape);
      return withExtras ? f : { pool: f.pool };
    },
    dispose() {
      this.disposed = true;
    },
  };
}

/** An LPIPS stand-in: the per-image mean absolute difference. */
export const fakeLpips: LpipsLike = {
  trunkName: 'fake-trunk',
  linWeights: 'uniform',
  forward: (x: tf.Tensor4D, y: tf.Tensor4D) =>
    tf.tidy(() => tf.mean(tf.abs(tf.sub(x, y)), [1, 2, 3]) as tf.Tensor1D),
};

/** Deterministic pseudo-random values in [lo, hi) (an LCG: test weights and inputs, not statistics). */
export function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}
