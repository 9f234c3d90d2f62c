// A user-written autoencoder, and its registration as an autoencoder kind of @ldmae/core.
import {
  createRng,
  DiagonalGaussian,
  Linear,
  Module,
  makeCheckpointPayload,
  registerAutoencoderKind,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** @typedef {import('@ldmae/core').Autoencoder} Autoencoder */

/** The `config.format` this kind's checkpoints declare. */
export const FORMAT = 'example-patch-ae';

/**
 * Images [B, H, W, 3] <-> latents [B, H/4, W/4, c]: each 4 x 4 patch goes through one Linear to c
 * channels and back. Deterministic (a zero-variance posterior).
 *
 * @implements {Autoencoder}
 */
export class PatchAutoencoder extends Module {
  /** @param {{ latentChannels?: number, seed?: number }} [opts] */
  constructor({ latentChannels = 4, seed = 0 } = {}) {
    super();
    const rng = createRng(seed);
    this.name = 'patch-ae';
    this.latentChannels = latentChannels;
    /** @type {import('@ldmae/core').LatentNormalization | null} */
    this.latentNormalization = null;
    this.enc = this.registerModule('enc', new Linear(48, latentChannels, { rng }));
    this.dec = this.registerModule('dec', new Linear(latentChannels, 48, { rng }));
  }

  /** @param {tf.Tensor4D} x */
  encode(x) {
    const [b, h, w] = x.shape;
    const mean = tf.tidy(() => {
      // [B, H, W, 3] -> [B, H/4, W/4, 48]: a 4 x 4 x 3 patch per latent position.
      const p = tf.transpose(tf.reshape(x, [b, h / 4, 4, w / 4, 4, 3]), [0, 1, 3, 2, 4, 5]);
      return tf.reshape(this.enc.forward(tf.reshape(p, [-1, 48])), [b, h / 4, w / 4, this.latentChannels]);
    });
    return DiagonalGaussian.deterministic(mean);
  }

  /** @param {tf.Tensor4D} z @returns {tf.Tensor4D} */
  decode(z) {
    const [b, h, w] = z.shape;
    return tf.tidy(() => {
      const p = tf.reshape(this.dec.forward(tf.reshape(z, [-1, this.latentChannels])), [b, h, w, 4, 4, 3]);
      return /** @type {tf.Tensor4D} */ (
        tf.reshape(tf.transpose(p, [0, 1, 3, 2, 4, 5]), [b, 4 * h, 4 * w, 3])
      );
    });
  }

  /** @param {[number, number, number]} imageShape @returns {[number, number, number]} */
  latentShape([h, w]) {
    if (h % 4 !== 0 || w % 4 !== 0)
      throw new RangeError(`PatchAutoencoder: H and W must be multiples of 4, got ${h}x${w}`);
    return [h / 4, w / 4, this.latentChannels];
  }
}

// Importing this file registers the kind: saveAutoencoder writes a PatchAutoencoder with its
// configuration, and loadAutoencoder (or LatentDiffusion.load) rebuilds it from what the file declares.
registerAutoencoderKind({
  format: FORMAT,
  description: 'PatchAutoencoder (example 06)',
  owns: (m) => m instanceof PatchAutoencoder,
  toPayload: (m) => {
    const ae = /** @type {PatchAutoencoder} */ (m);
    return makeCheckpointPayload({
      model: ae,
      step: 0,
      config: {
        format: FORMAT,
        latentChannels: ae.latentChannels,
        latentNormalization: ae.latentNormalization,
      },
    });
  },
  fromCheckpoint: ({ config, tensors }) => {
    const ae = new PatchAutoencoder({ latentChannels: /** @type {number} */ (config.latentChannels) });
    /** @type {Record<string, import('@ldmae/core').HostTensor>} */
    const own = {};
    for (const [k, t] of Object.entries(tensors))
      if (k.startsWith('model.')) own[k.slice('model.'.length)] = t;
    const weights = toTfTensors(own);
    try {
      ae.loadStateDict(weights); // strict: every weight present, shapes checked
    } catch (e) {
      ae.dispose();
      throw e;
    } finally {
      tf.dispose(Object.values(weights));
    }
    ae.latentNormalization = /** @type {import('@ldmae/core').LatentNormalization | null} */ (
      config.latentNormalization
    );
    return ae;
  },
});
