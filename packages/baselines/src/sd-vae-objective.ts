/**
 * The SD-VAE objective: taming-transformers' / LDM's `LPIPSWithDiscriminator` (L1 + LPIPS under a
 * learned log-variance, KL, PatchGAN hinge loss with the adaptive weight, a discriminator start step).
 */
import { createRng, Module, type Rng } from '@ldmae/core';
import {
  adaptiveWeight,
  adoptWeight,
  generatorLoss,
  hingeDLoss,
  klLoss,
  type Lpips,
  NLayerDiscriminator,
} from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from './autoencoder-kl.js';
import type { BaselineObjective, ObjectiveBaseOptions, ObjectiveOutput } from './objectives.js';
import { finiteAtLeast } from './variants.js';

/** Options of {@link SdVaeObjective}; defaults are LDM's kl-f8 autoencoder config and taming's. */
export interface SdVaeObjectiveOptions extends ObjectiveBaseOptions {
  /**
   * The perceptual distance (from @ldmae/losses; the objective does not own it). Required unless
   * `perceptualWeight` is 0: LDM uses LPIPS on VGG16, whose weights a user supplies (see README).
   */
  lpips?: Lpips | null;
  /** Weight of LPIPS in the reconstruction term (taming `perceptual_weight`). Default 1. */
  perceptualWeight?: number;
  /** KL weight (`kl_weight`). Default 1e-6 (LDM kl-f8). */
  klWeight?: number;
  /** First step (0-based, compared with `step >= discStart`) that uses the GAN terms (`disc_start`). Default 50001. */
  discStart?: number;
  /** Multiplier of the adaptive weight (`disc_weight`). Default 0.5 (LDM kl-f8). */
  discWeight?: number;
  /** GAN factor once started (`disc_factor`). Default 1. */
  discFactor?: number;
  /** Initial value of the learned log-variance (`logvar_init`). Default 0. */
  logvarInit?: number;
  /** Pixel term: 'l1' (taming's |x - x'|, default) or 'mse'. */
  pixelLoss?: 'l1' | 'mse';
  /** The PatchGAN (`NLayerDiscriminator`) or its size; default ndf 64, 3 layers (taming's). */
  discriminator?: NLayerDiscriminator | { ndf?: number; nLayers?: number };
}

/**
 * The objective's own trainable state, with taming's names: `logvar` (a scalar) and
 * `discriminator.main.*`.
 */
export class SdVaeLossModule extends Module {
  readonly logvar: tf.Variable;
  readonly discriminator: NLayerDiscriminator;

  constructor(discriminator: NLayerDiscriminator, logvarInit: number) {
    super();
    this.logvar = this.registerParameter('logvar', tf.scalar(logvarInit), { decay: false });
    this.discriminator = this.registerModule('discriminator', discriminator);
  }
}

// A copy that no recorded op produced, so gradients of the outer tape cannot flow through it.
const detach = <T extends tf.Tensor>(t: T): T => tf.tensor(t.dataSync(), t.shape, t.dtype) as T;

/**
 * SD-VAE training as taming's `LPIPSWithDiscriminator` with `disc_loss='hinge'`, both optimiser steps
 * of one batch folded into one loss (they touch disjoint parameters and see the same weights):
 *
 * - rec = |x - x'| + perceptualWeight * LPIPS(x, x') (per pixel, LPIPS broadcast over the image);
 *   nll = sum(rec / exp(logvar) + logvar) / B; kl = sum(KL) / B (standard KL of q(z|x), z sampled);
 * - g = -mean(D(x')); d_weight = discWeight * clamp(|grad_W nll| / (|grad_W g| + 1e-4), 0, 1e4) with
 *   W the decoder's `conv_out.weight`; factor = discFactor once `step >= discStart`, else 0;
 * - autoencoder loss = nll + klWeight * kl + d_weight * factor * g;
 * - discriminator loss = factor * 0.5 * (mean(relu(1 - D(x))) + mean(relu(1 + D(sg(x'))))).
 *
 * The autoencoder receives gradients only from its loss and the discriminator only from its own:
 * the gradients of nll and g with respect to x' are taken first on a detached copy (they also give
 * d_weight), and the autoencoder is differentiated through sum(x' * those gradients), whose value is
 * shifted to the true loss. Before `discStart` the discriminator is not run at all (taming runs it
 * and multiplies by 0; only its BatchNorm running statistics differ).
 *
 * Logs: nll, rec (mean pixel term), p_loss (mean LPIPS), kl, logvar, d_weight, disc_factor, g_loss,
 * d_loss, logits_real, logits_fake.
 */
export class SdVaeObjective implements BaselineObjective {
  readonly kind = 'sd-vae' as const;
  readonly autoencoder: AutoencoderKL;
  readonly module: SdVaeLossModule;
  readonly rng: Rng;
  readonly lpips: Lpips | null;
  readonly perceptualWeight: number;
  readonly klWeight: number;
  readonly discStart: number;
  readonly discWeight: number;
  readonly discFactor: number;
  readonly pixelLoss: 'l1' | 'mse';

  constructor(autoencoder: AutoencoderKL, opts: SdVaeObjectiveOptions = {}) {
    this.autoencoder = autoencoder;
    this.rng = opts.rng ?? createRng(opts.seed ?? 0);
    this.perceptualWeight = finiteAtLeast(opts.perceptualWeight ?? 1, 'SdVaeObjective: perceptualWeight');
    this.klWeight = finiteAtLeast(opts.klWeight ?? 1e-6, 'SdVaeObjective: klWeight');
    this.discStart = finiteAtLeast(opts.discStart ?? 50001, 'SdVaeObjective: discStart');
    this.discWeight = finiteAtLeast(opts.discWeight ?? 0.5, 'SdVaeObjective: discWeight');
    this.discFactor = finiteAtLeast(opts.discFactor ?? 1, 'SdVaeObjective: discFactor');
    const logvarInit = finiteAtLeast(opts.logvarInit ?? 0, 'SdVaeObjective: logvarInit', -Infinity);
    this.pixelLoss = opts.pixelLoss ?? 'l1';
    if (this.pixelLoss !== 'l1' && this.pixelLoss !== 'mse') {
      throw new RangeError(`SdVaeObjective: pixelLoss must be 'l1' or 'mse', got '${this.pixelLoss}'`);
    }
    this.lpips = opts.lpips ?? null;
    if (this.perceptualWeight > 0 && !this.lpips) {
      throw new Error(
        'SdVaeObjective: opts.lpips (an Lpips from @ldmae/losses) is required when perceptualWeight > 0; pass perceptualWeight: 0 to train without it',
      );
    }
    const d = opts.discriminator;
    const disc =
      d instanceof NLayerDiscriminator
        ? d
        : new NLayerDiscriminator({
            inChannels: autoencoder.config.outChannels,
            ndf: d?.ndf,
            nLayers: d?.nLayers,
            rng: this.rng.fork(),
          });
    this.module = new SdVaeLossModule(disc, logvarInit);
  }

  /** The GAN factor at a 0-based step (taming's `adopt_weight`). */
  factorAt(step: number): number {
    return adoptWeight(this.discFactor, step, this.discStart);
  }

  private nll(
    x: tf.Tensor4D,
    xr: tf.Tensor,
    logvar: tf.Tensor,
  ): { nll: tf.Scalar; rec: tf.Scalar; p: tf.Scalar } {
    const [b, h, w, c] = x.shape;
    const d = h * w * c;
    const diff = tf.sub(x, xr);
    const pixel = this.pixelLoss === 'l1' ? tf.abs(diff) : tf.square(diff);
    const pixelSum = tf.sum(pixel);
    // LPIPS is [B]; taming adds it to every pixel of its image, so it enters the sum D times.
    const p =
      this.lpips && this.perceptualWeight > 0 ? this.lpips.forward(x, xr as tf.Tensor4D) : tf.zeros([b]);
    const recSum = tf.add(pixelSum, tf.mul(tf.sum(p), this.perceptualWeight * d));
    const nll = tf.div(tf.add(tf.div(recSum, tf.exp(logvar)), tf.mul(logvar, b * d)), b) as tf.Scalar;
    return { nll, rec: tf.div(pixelSum, b * d) as tf.Scalar, p: tf.mean(p) as tf.Scalar };
  }

  private lastLayerGrad(preOut: tf.Tensor4D, g: tf.Tensor): tf.Tensor {
    const conv = this.autoencoder.decoder.convOut;
    const [ph, pw] = conv.padding as [number, number];
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [ph, ph],
      [pw, pw],
      [0, 0],
    ];
    return tf.grad((wt: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(preOut, wt as tf.Tensor4D, conv.stride, pad), g)),
    )(conv.weight);
  }

  loss(x: tf.Tensor4D, step: number): ObjectiveOutput {
    const ae = this.autoencoder;
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== ae.config.inChannels) {
      throw new Error(
        `SdVaeObjective.loss: x must be images [B, H, W, ${ae.config.inChannels}] in [-1, 1], got [${x?.shape}]`,
      );
    }
    if (!Number.isInteger(step) || step < 0)
      throw new RangeError(`SdVaeObjective.loss: step must be an integer >= 0, got ${step}`);
    const b = x.shape[0];
    const disc = this.module.discriminator;
    const logvar = this.module.logvar;
    const factor = this.factorAt(step);

    const post = ae.encode(x);
    const z = post.sample(this.rng) as tf.Tensor4D;
    const { output: xrec, preOut } = ae.decodeWithFeatures(z);
    const kl = tf.div(tf.sum(klLoss(post, { form: 'standard', reduction: 'none' })), b) as tf.Scalar;

    const xd = detach(xrec);
    const lvd = detach(logvar as tf.Tensor);
    let rec = 0;
    let p = 0;
    const nllPart = tf.valueAndGrads((xr: tf.Tensor, lv: tf.Tensor) => {
      const parts = this.nll(x, xr, lv);
      // Read here: the parts die with the gradient's scope, and a second LPIPS pass would cost as much.
      rec = parts.rec.dataSync()[0];
      p = parts.p.dataSync()[0];
      return parts.nll;
    })([xd, lvd]);
    const nllValue = nllPart.value.dataSync()[0];
    let gradX: tf.Tensor = nllPart.grads[0];
    let dWeight = 0;
    let gValue = 0;
    let dLoss: tf.Scalar = tf.scalar(0);
    const logs: Record<string, tf.Scalar | number> = { rec, p_loss: p, kl, logvar: logvar.dataSync()[0] };
    if (factor > 0) {
      const gPart = tf.valueAndGrads((xr: tf.Tensor) => generatorLoss(disc.forward(xr as tf.Tensor4D)))([xd]);
      gValue = gPart.value.dataSync()[0];
      const pd = detach(preOut);
      const w = adaptiveWeight(
        this.lastLayerGrad(pd, nllPart.grads[0]),
        this.lastLayerGrad(pd, gPart.grads[0]),
        this.discWeight,
      );
      dWeight = w.dataSync()[0];
      gradX = tf.add(gradX, tf.mul(gPart.grads[0], dWeight * factor));
      const logitsReal = disc.forward(x);
      const logitsFake = disc.forward(xd);
      dLoss = tf.mul(hingeDLoss(logitsReal, logitsFake), factor) as tf.Scalar;
      logs.logits_real = tf.mean(logitsReal) as tf.Scalar;
      logs.logits_fake = tf.mean(logitsFake) as tf.Scalar;
    }
    const cX = detach(gradX);
    const cL = nllPart.grads[1].dataSync()[0];
    const klValue = kl.dataSync()[0];
    // Gradients: d/dparams of sum(x' * dL/dx') is the chain rule through the decoder; logvar gets its own.
    const surrogate = tf.addN([tf.sum(tf.mul(xrec, cX)), tf.mul(logvar, cL), tf.mul(kl, this.klWeight)]);
    const aeValue = nllValue + this.klWeight * klValue + dWeight * factor * gValue;
    const aeLoss = tf.add(surrogate, aeValue - surrogate.dataSync()[0]);
    Object.assign(logs, {
      nll: nllValue,
      d_weight: dWeight,
      disc_factor: factor,
      g_loss: gValue,
      d_loss: dLoss,
    });
    return { loss: tf.add(aeLoss, dLoss) as tf.Scalar, logs };
  }

  /** Release the discriminator and logvar (not the autoencoder, not the LPIPS). */
  dispose(): void {
    this.module.dispose();
  }
}
