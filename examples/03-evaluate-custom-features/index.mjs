// Evaluate two simple autoencoders with evaluateReconstruction and a custom FeatureExtractor.
import { createRng, DiagonalGaussian, setupBackend } from '@ldmae/core';
import { DataLoader, mnist, toRgb } from '@ldmae/data';
import { evaluateReconstruction } from '@ldmae/metrics';
import * as tf from '@tensorflow/tfjs-core';

/** @typedef {import('@ldmae/core').Autoencoder} Autoencoder */
/** @typedef {import('@ldmae/metrics').FeatureExtractor} FeatureExtractor */

/** @param {boolean} ok @param {string} what */
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/**
 * A fixed feature network: images pooled to 7 x 7 x 3, projected by a seeded Gaussian matrix, ReLU.
 * @implements {FeatureExtractor}
 */
class RandomProjectionFeatures {
  /** @param {{ dim?: number, seed?: number }} [opts] */
  constructor({ dim = 64, seed = 0 } = {}) {
    this.name = `random-projection-${dim}[seed ${seed}]`;
    this.preprocessing = 'average-pooled to 7 x 7 x 3 (values in [-1, 1]), no quantisation';
    this.dims = { pool: dim };
    const inputs = 7 * 7 * 3;
    this.weights = tf.tidy(() => tf.div(createRng(seed).normal([inputs, dim]), Math.sqrt(inputs)));
  }

  /** @param {tf.Tensor4D} images [n, H, W, 3] in [-1, 1] */
  async extract(images) {
    const features = tf.tidy(() => {
      const pooled = tf.image.resizeBilinear(images, [7, 7]);
      return tf.relu(tf.matMul(tf.reshape(pooled, [images.shape[0], -1]), this.weights));
    });
    const pool = /** @type {Float32Array} */ (await features.data());
    features.dispose();
    return { pool };
  }

  dispose() {
    this.weights.dispose();
  }
}

/**
 * "Encodes" by average pooling by `factor`, decodes by bilinear upsampling.
 * @implements {Autoencoder}
 */
class PoolAutoencoder {
  /** @param {number} factor */
  constructor(factor) {
    this.factor = factor;
    this.name = `avg-pool-${factor}`;
    /** @type {import('@ldmae/core').LatentNormalization | null} */
    this.latentNormalization = null;
  }

  /** @param {tf.Tensor4D} x */
  encode(x) {
    return DiagonalGaussian.deterministic(tf.avgPool(x, this.factor, this.factor, 'valid'));
  }

  /** @param {tf.Tensor4D} z */
  decode(z) {
    const [, h, w] = z.shape;
    return tf.image.resizeBilinear(z, [h * this.factor, w * this.factor]);
  }

  /** @param {[number, number, number]} shape @returns {[number, number, number]} */
  latentShape([h, w, c]) {
    return [Math.floor(h / this.factor), Math.floor(w / this.factor), c];
  }

  dispose() {}
}

console.log(`backend: ${await setupBackend({ backend: 'wasm' })}`);
const loader = new DataLoader(await mnist(), { batchSize: 256, seed: 5, transform: toRgb() });
const { images, labels } = await loader.next(); // [256, 28, 28, 3] in [-1, 1]
labels?.dispose();

const extractor = new RandomProjectionFeatures({ dim: 64, seed: 0 });
/** @type {Record<string, Awaited<ReturnType<typeof evaluateReconstruction>>>} */
const results = {};
for (const factor of [2, 4]) {
  const ae = new PoolAutoencoder(factor);
  const t0 = performance.now();
  const r = await evaluateReconstruction(ae, /** @type {tf.Tensor4D} */ (images), {
    extractor,
    batchSize: 64,
  });
  results[factor] = r;
  console.log(
    `${ae.name.padEnd(10)} n=${r.count}  rFID ${r.rfid?.toFixed(4)}  PSNR ${r.psnr.toFixed(2)} dB  ` +
      `SSIM ${r.ssim.toFixed(4)}  L1 ${r.l1.toFixed(4)}  MSE ${r.mse.toFixed(4)}  ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s, features: ${r.extractor})`,
  );
  check(r.count === 256, `count 256, got ${r.count}`);
  check(r.extractor === extractor.name, `the result names the extractor, got ${r.extractor}`);
  check(r.lpips === null && r.lpipsNet === null, 'no LPIPS network was given');
  for (const key of /** @type {const} */ (['rfid', 'psnr', 'ssim', 'l1', 'mse'])) {
    check(Number.isFinite(r[key]), `${key} is finite, got ${r[key]}`);
  }
  ae.dispose();
}
const [fine, coarse] = [results[2], results[4]];
check(/** @type {number} */ (fine.rfid) < /** @type {number} */ (coarse.rfid), 'rFID: factor 2 < factor 4');
check(fine.psnr > coarse.psnr, 'PSNR: factor 2 > factor 4');
check(fine.ssim > coarse.ssim, 'SSIM: factor 2 > factor 4');
check(fine.mse < coarse.mse, 'MSE: factor 2 < factor 4');

// Sanity: originals against themselves (identity autoencoder) give rFID ~ 0 and PSNR +Infinity.
const identity = {
  name: 'identity',
  latentNormalization: null,
  /** @param {tf.Tensor4D} x */ encode: (x) => DiagonalGaussian.deterministic(x.clone()),
  /** @param {tf.Tensor4D} z */ decode: (z) => z.clone(),
  /** @param {[number, number, number]} s @returns {[number, number, number]} */ latentShape: (s) => s,
  dispose() {},
};
const self = await evaluateReconstruction(identity, /** @type {tf.Tensor4D} */ (images), {
  extractor,
  batchSize: 64,
});
console.log(
  `identity   rFID ${self.rfid?.toExponential(2)}  PSNR ${self.psnr}  SSIM ${self.ssim.toFixed(4)}`,
);
check(Math.abs(/** @type {number} */ (self.rfid)) < 1e-6, 'identity rFID ~ 0');
check(self.psnr === Number.POSITIVE_INFINITY, 'identity PSNR is +Infinity');

extractor.dispose();
images.dispose();
console.log(`tensors left: ${tf.memory().numTensors}`);
console.log('OK');
