/**
 * An autoencoder that is not a VMAE, for the test of a pipeline the playground refuses: 4 x 4 average
 * pooling and a Linear to c channels (28 x 28 images give the VMAE's 7 x 7 x c latents), a Linear back
 * and nearest upsampling, registered as its own kind as a user of the packages would.
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

export class PoolAE extends Module implements Autoencoder {
  readonly name = 'pool-ae';
  latentNormalization: LatentNormalization | null = null;
  readonly enc: Linear;
  readonly dec: Linear;
  constructor(readonly channels: number) {
    super();
    const rng = createRng(0);
    this.enc = this.registerModule('enc', new Linear(3, channels, { rng }));
    this.dec = this.registerModule('dec', new Linear(channels, 3, { rng }));
  }
  encode(x: tf.Tensor4D): LatentDistribution {
    const mean = tf.tidy(() => {
      const [b, h, w] = x.shape;
      const pooled = tf.avgPool(x, 4, 4, 'valid');
      return tf.reshape(this.enc.forward(tf.reshape(pooled, [-1, 3])), [b, h / 4, w / 4, this.channels]);
    });
    return DiagonalGaussian.deterministic(mean);
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = z.shape;
      const y = tf.reshape(this.dec.forward(tf.reshape(z, [-1, this.channels])), [b, h, w, 3]) as tf.Tensor4D;
      return tf.image.resizeNearestNeighbor(y, [h * 4, w * 4]);
    });
  }
  latentShape(s: [number, number, number]): [number, number, number] {
    return [Math.floor(s[0] / 4), Math.floor(s[1] / 4), this.channels];
  }
}

registerAutoencoderKind({
  format: 'test-pool-ae',
  description: 'PoolAE (playground test)',
  owns: (m) => m instanceof PoolAE,
  toPayload: (m) =>
    makeCheckpointPayload({
      model: m as PoolAE,
      step: 0,
      config: { format: 'test-pool-ae', channels: (m as PoolAE).channels },
    }),
  fromCheckpoint: (c) => {
    const ae = new PoolAE(c.config.channels as number);
    const up = toTfTensors(c.tensors);
    const w: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(up)) if (k.startsWith('model.')) w[k.slice(6)] = t;
    try {
      ae.loadStateDict(w);
    } finally {
      tf.dispose(Object.values(up));
    }
    return ae;
  },
});
