/**
 * A user's own autoencoder for the pipeline tests: 2 x 2 patches to c channels and back by two Linears,
 * registered as its own kind (as a user of the packages would).
 */
import {
  type Autoencoder,
  createRng,
  DiagonalGaussian,
  type LatentDistribution,
  type LatentNormalization,
  Linear,
  Module,
  makeCheckpointPayload,
  registerAutoencoderKind,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

export class PatchAE extends Module implements Autoencoder {
  readonly name = 'patch-ae';
  latentNormalization: LatentNormalization | null = null;
  readonly enc: Linear;
  readonly dec: Linear;
  constructor(
    readonly channels: number,
    seed = 0,
  ) {
    super();
    const rng = createRng(seed);
    this.enc = this.registerModule('enc', new Linear(12, channels, { rng }));
    this.dec = this.registerModule('dec', new Linear(channels, 12, { rng }));
  }
  encode(x: tf.Tensor4D): LatentDistribution {
    const mean = tf.tidy(() => {
      const [b, h, w] = x.shape;
      const patches = tf.reshape(
        tf.transpose(tf.reshape(x, [b, h / 2, 2, w / 2, 2, 3]), [0, 1, 3, 2, 4, 5]),
        [-1, 12],
      );
      return tf.reshape(this.enc.forward(patches), [b, h / 2, w / 2, this.channels]);
    });
    return DiagonalGaussian.deterministic(mean);
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = z.shape;
      const y = tf.reshape(this.dec.forward(tf.reshape(z, [-1, this.channels])), [b, h, w, 2, 2, 3]);
      return tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [b, h * 2, w * 2, 3]) as tf.Tensor4D;
    });
  }
  latentShape(s: [number, number, number]): [number, number, number] {
    if (s[0] % 2 || s[1] % 2) throw new Error('PatchAE: image sides must be even');
    return [s[0] / 2, s[1] / 2, this.channels];
  }
}

registerAutoencoderKind({
  format: 'test-patch-ae',
  description: 'PatchAE (test)',
  owns: (m) => m instanceof PatchAE,
  toPayload: (m) =>
    makeCheckpointPayload({
      model: m as PatchAE,
      step: 0,
      config: { format: 'test-patch-ae', channels: (m as PatchAE).channels, norm: m.latentNormalization },
    }),
  fromCheckpoint: (c) => {
    const ae = new PatchAE(c.config.channels as number);
    const w: Record<string, tf.Tensor> = {};
    const up = toTfTensors(c.tensors);
    for (const [k, t] of Object.entries(up)) if (k.startsWith('model.')) w[k.slice(6)] = t;
    try {
      ae.loadStateDict(w);
    } finally {
      tf.dispose(Object.values(up));
    }
    ae.latentNormalization = (c.config.norm as LatentNormalization | null) ?? null;
    return ae;
  },
});
