/**
 * Training objectives of the AE, DAE and VAE baselines, and the interface the SD-VAE's shares. Each
 * returns its loss from a synchronous function that core's `train` runs inside `tf.variableGrads`.
 */
import { createRng, type Module, type Rng } from '@ldmae/core';
import { klLoss, mseLoss } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from './autoencoder-kl.js';
import { type BaselineKind, finiteAtLeast } from './variants.js';

/** One step's loss and the scalars to log with it. */
export interface ObjectiveOutput {
  loss: tf.Scalar;
  logs: Record<string, tf.Scalar | number>;
}

/** A baseline's training objective over one autoencoder. */
export interface BaselineObjective {
  readonly kind: BaselineKind;
  readonly autoencoder: AutoencoderKL;
  /** Trainable state of the objective itself (the SD-VAE's `logvar` and `discriminator`), or null. */
  readonly module: Module | null;
  /** The generator of the objective's randomness (noise, posterior samples); saved with checkpoints. */
  readonly rng: Rng;
  /**
   * The loss of images x [B, H, W, C] in [-1, 1] at 0-based step `step`. Synchronous, for
   * `tf.variableGrads`; intermediate tensors are left to the caller's scope. The autoencoder's
   * `encode` checks the images.
   */
  loss(x: tf.Tensor4D, step: number): ObjectiveOutput;
  /** Release what the objective owns (not the autoencoder, not a caller's LPIPS). */
  dispose(): void;
}

/** Options shared by every objective. */
export interface ObjectiveBaseOptions {
  /** Generator of the objective's randomness; default `createRng(seed)`. */
  rng?: Rng;
  /** Default 0. */
  seed?: number;
}

/** Options of the DAE objective. */
export interface DaeObjectiveOptions extends ObjectiveBaseOptions {
  /**
   * Std of the Gaussian noise added to the [-1, 1] input (x + noiseStd * eps, not clipped). Default
   * 0.1 (0.05 on a [0, 1] scale): neither the paper nor the released code states the DAE's noise, so
   * this is our choice, small enough that the clean image stays recognisable.
   */
  noiseStd?: number;
}

/** Options of the VAE objective. */
export interface VaeObjectiveOptions extends ObjectiveBaseOptions {
  /**
   * beta in loss = mean((x - x')^2) + beta * KL / D with D = H*W*C and KL the standard
   * KL(q(z|x) || N(0, I)) summed over the latent and averaged over the batch. Default 1: with beta = 1
   * this is the negative ELBO per pixel of a Gaussian decoder of variance 1/2 (the standard VAE of
   * Kingma and Welling, which the paper cites).
   */
  klWeight?: number;
}

/** The default DAE noise std (see {@link DaeObjectiveOptions.noiseStd}). */
export const DAE_DEFAULT_NOISE_STD = 0.1;
/** The default VAE KL weight (see {@link VaeObjectiveOptions.klWeight}). */
export const VAE_DEFAULT_KL_WEIGHT = 1;

abstract class PixelObjective implements BaselineObjective {
  abstract readonly kind: BaselineKind;
  readonly module = null;
  readonly rng: Rng;
  constructor(
    readonly autoencoder: AutoencoderKL,
    opts: ObjectiveBaseOptions,
  ) {
    this.rng = opts.rng ?? createRng(opts.seed ?? 0);
  }
  abstract loss(x: tf.Tensor4D, step: number): ObjectiveOutput;
  dispose(): void {}

  /** loss = mean((x - decode(encode(input).mode()))^2), logged as `mse` (the AE's and DAE's loss). */
  protected modeMse(input: tf.Tensor4D, x: tf.Tensor4D): ObjectiveOutput {
    const ae = this.autoencoder;
    const mse = mseLoss(ae.decode(ae.encode(input).mean as tf.Tensor4D), x) as tf.Scalar;
    // A separate handle: core's train disposes the loss before it reads the logs.
    return { loss: mse, logs: { mse: tf.clone(mse) as tf.Scalar } };
  }
}

/** AE: loss = mean((x - decode(encode(x).mode()))^2). Logs `mse`. */
export class AeObjective extends PixelObjective {
  readonly kind = 'ae' as const;

  loss(x: tf.Tensor4D): ObjectiveOutput {
    return this.modeMse(x, x);
  }
}

/** DAE: loss = mean((x - decode(encode(x + s * eps).mode()))^2), eps ~ N(0, I). Logs `mse`. */
export class DaeObjective extends PixelObjective {
  readonly kind = 'dae' as const;
  readonly noiseStd: number;

  constructor(autoencoder: AutoencoderKL, opts: DaeObjectiveOptions = {}) {
    super(autoencoder, opts);
    this.noiseStd = finiteAtLeast(opts.noiseStd ?? DAE_DEFAULT_NOISE_STD, 'DaeObjective: noiseStd');
  }

  loss(x: tf.Tensor4D): ObjectiveOutput {
    const eps = this.rng.normal(x.shape);
    return this.modeMse(tf.add(x, tf.mul(eps, this.noiseStd)) as tf.Tensor4D, x);
  }
}

/**
 * VAE: z ~ q(z|x) (reparameterised), loss = mean((x - decode(z))^2) + klWeight * mean_b(KL_b) / D.
 * Logs `mse` and `kl` (KL per sample, summed over the latent).
 */
export class VaeObjective extends PixelObjective {
  readonly kind = 'vae' as const;
  readonly klWeight: number;

  constructor(autoencoder: AutoencoderKL, opts: VaeObjectiveOptions = {}) {
    super(autoencoder, opts);
    this.klWeight = finiteAtLeast(opts.klWeight ?? VAE_DEFAULT_KL_WEIGHT, 'VaeObjective: klWeight');
  }

  loss(x: tf.Tensor4D): ObjectiveOutput {
    const ae = this.autoencoder;
    const post = ae.encode(x);
    const z = post.sample(this.rng) as tf.Tensor4D;
    const mse = mseLoss(ae.decode(z), x) as tf.Scalar;
    const kl = tf.mean(klLoss(post, { form: 'standard', reduction: 'none' })) as tf.Scalar;
    const d = x.shape[1] * x.shape[2] * x.shape[3];
    return { loss: tf.add(mse, tf.mul(kl, this.klWeight / d)), logs: { mse, kl } };
  }
}
