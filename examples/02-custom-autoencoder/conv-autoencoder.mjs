// A user-written autoencoder implementing @ldmae/core's Autoencoder contract.
import { Conv2d, createRng, DiagonalGaussian, Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** @typedef {import('@ldmae/core').Autoencoder} Autoencoder */

/**
 * Images [B, H, W, 3] in [-1, 1] <-> latents [B, H/4, W/4, latentChannels]. Deterministic: `encode`
 * returns a zero-variance Gaussian, as the library's plain AE does.
 *
 * @implements {Autoencoder}
 */
export class ConvAutoencoder extends Module {
  /** @param {{ latentChannels?: number, width?: number, seed?: number }} [opts] */
  constructor({ latentChannels = 4, width = 32, seed = 0 } = {}) {
    super();
    const rng = createRng(seed);
    /** A short name that reports and checkpoints use. */
    this.name = 'conv-ae';
    this.latentChannels = latentChannels;
    /** @type {import('@ldmae/core').LatentNormalization | null} */
    this.latentNormalization = null;
    // Encoder: 3 -> width (stride 2) -> latentChannels (stride 2).
    this.enc1 = this.registerModule('enc1', new Conv2d(3, width, 3, { rng, stride: 2, padding: 1 }));
    this.enc2 = this.registerModule(
      'enc2',
      new Conv2d(width, latentChannels, 3, { rng, stride: 2, padding: 1 }),
    );
    // Decoder: nearest-neighbour upsampling, each followed by a 3 x 3 convolution.
    this.dec1 = this.registerModule('dec1', new Conv2d(latentChannels, width, 3, { rng, padding: 1 }));
    this.dec2 = this.registerModule('dec2', new Conv2d(width, 3, 3, { rng, padding: 1 }));
  }

  /** @param {tf.Tensor4D} x images [B, H, W, 3] @returns {tf.Tensor4D} latents [B, H/4, W/4, c] */
  encodeMean(x) {
    return tf.tidy(() => /** @type {tf.Tensor4D} */ (this.enc2.forward(tf.relu(this.enc1.forward(x)))));
  }

  /** @param {tf.Tensor4D} x */
  encode(x) {
    return DiagonalGaussian.deterministic(this.encodeMean(x));
  }

  /** @param {tf.Tensor4D} z latents [B, h, w, c] @returns {tf.Tensor4D} images [B, 4h, 4w, 3] */
  decode(z) {
    return tf.tidy(() => {
      const [, h, w] = z.shape;
      const up1 = tf.image.resizeNearestNeighbor(z, [2 * h, 2 * w]);
      const a = tf.relu(this.dec1.forward(up1));
      const up2 = tf.image.resizeNearestNeighbor(/** @type {tf.Tensor4D} */ (a), [4 * h, 4 * w]);
      return /** @type {tf.Tensor4D} */ (tf.tanh(this.dec2.forward(up2)));
    });
  }

  /** @param {[number, number, number]} imageShape @returns {[number, number, number]} */
  latentShape([h, w]) {
    if (h % 4 !== 0 || w % 4 !== 0)
      throw new RangeError(`ConvAutoencoder: H and W must be multiples of 4, got ${h}x${w}`);
    return [h / 4, w / 4, this.latentChannels];
  }
}
