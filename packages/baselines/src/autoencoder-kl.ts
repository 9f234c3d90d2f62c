/**
 * diffusers' `AutoencoderKL` (the SD / SD3 VAE) behind the {@link Autoencoder} contract: NHWC images in
 * [-1, 1], NHWC latents, a diagonal-Gaussian (or zero-variance) posterior.
 */
import {
  type Autoencoder,
  Conv2d,
  createRng,
  DiagonalGaussian,
  type LatentNormalization,
  Module,
  type Rng,
  reconstruct,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AutoencoderKLConfig,
  type AutoencoderKLPresetAlias,
  type AutoencoderKLPresetName,
  autoencoderKLConfig,
  checkAutoencoderKLConfig,
  DEFAULT_BASELINE_PRESET,
  downsamplingFactor,
  resolveAutoencoderKLPresetName,
} from './config.js';
import { Decoder, type DecoderFeatures } from './decoder.js';
import { Encoder } from './encoder.js';
import type { VaeInit } from './resnet-block.js';

/**
 * What `encode` returns: 'gaussian' (VAE, SD-VAE: mean and clamped log-variance from the encoder) or
 * 'deterministic' (AE, DAE: the mean with zero variance, logvar -30; the encoder's logvar channels
 * exist, as in the reference, but are unused).
 */
export type PosteriorKind = 'gaussian' | 'deterministic';

/** Options of {@link AutoencoderKL}. */
export interface AutoencoderKLOptions {
  /**
   * Start from a preset. Default {@link DEFAULT_BASELINE_PRESET} ('f4d4-tiny', CPU-sized) when no full
   * `config` is given; pass 'sd3-f8d16' for the paper's baseline. The deprecated former names
   * ('tiny-f4d4', 'tiny-f8d4', 'micro-f4d4') are accepted.
   */
  preset?: AutoencoderKLPresetName | AutoencoderKLPresetAlias;
  /** A full configuration, or overrides of the preset's (of the default preset without `preset`). */
  config?: Partial<AutoencoderKLConfig>;
  /** Default 'gaussian'. */
  posterior?: PosteriorKind;
  /** Reported name (Autoencoder.name). Default 'autoencoder-kl'. */
  name?: string;
  /** Source of the initial weights; default `createRng(seed)`. */
  rng?: Rng;
  /** Seed of the initial weights when no `rng` is given. Default 0. */
  seed?: number;
  /** Default 'torch' (PyTorch's default init, as a new diffusers model); 'zeros' to load weights into. */
  init?: VaeInit;
  /** Latent normalisation for the LDM, if already known. */
  latentNormalization?: LatentNormalization | null;
}

const FULL_KEYS: (keyof AutoencoderKLConfig)[] = [
  'inChannels',
  'outChannels',
  'blockOutChannels',
  'layersPerBlock',
  'latentChannels',
  'normNumGroups',
  'useQuantConv',
  'usePostQuantConv',
  'midBlockAddAttention',
];

function resolveConfig(opts: AutoencoderKLOptions): AutoencoderKLConfig {
  const given = opts.config ?? {};
  if (opts.preset === undefined && FULL_KEYS.every((k) => k in given)) {
    const c = {
      ...(given as AutoencoderKLConfig),
      blockOutChannels: [...(given.blockOutChannels as number[])],
    };
    checkAutoencoderKLConfig(c);
    return c;
  }
  const preset =
    opts.preset === undefined
      ? DEFAULT_BASELINE_PRESET
      : resolveAutoencoderKLPresetName(opts.preset, 'AutoencoderKL: opts.preset');
  return autoencoderKLConfig(preset, given);
}

/**
 * The AutoencoderKL with diffusers' state-dict names: `encoder.*`, `decoder.*`, and `quant_conv` /
 * `post_quant_conv` when configured. `stateDict()` is a diffusers state dict (PyTorch layouts), and
 * `loadStateDict` takes one; see `loadDiffusersVae` for other key layouts.
 *
 * @example
 * const vae = new AutoencoderKL({ seed: 1 }); // DEFAULT_BASELINE_PRESET, 'f4d4-tiny'
 * const post = vae.encode(x);            // x [B, 28, 28, 3] in [-1, 1] -> mean [B, 7, 7, 4]
 * const y = vae.decode(post.mean as tf.Tensor4D);
 */
export class AutoencoderKL extends Module implements Autoencoder {
  readonly name: string;
  readonly config: AutoencoderKLConfig;
  readonly posteriorKind: PosteriorKind;
  /** Spatial downsampling factor 2^(levels - 1). */
  readonly factor: number;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv2d | null;
  readonly postQuantConv: Conv2d | null;
  latentNormalization: LatentNormalization | null;

  /**
   * @param opts the architecture (`preset`, default {@link DEFAULT_BASELINE_PRESET}, and / or
   * `config`), posterior, name and initial weights.
   * @throws RangeError naming `opts.preset` and listing the presets for an unknown preset, or naming
   * the first bad configuration field.
   */
  constructor(opts: AutoencoderKLOptions = {}) {
    super();
    const config = resolveConfig(opts ?? {});
    const posterior = opts.posterior ?? 'gaussian';
    if (posterior !== 'gaussian' && posterior !== 'deterministic') {
      throw new RangeError(
        `AutoencoderKL: posterior must be 'gaussian' or 'deterministic', got '${posterior}'`,
      );
    }
    const init = opts.init ?? 'torch';
    if (init !== 'torch' && init !== 'zeros')
      throw new RangeError(`AutoencoderKL: init must be 'torch' or 'zeros', got '${init}'`);
    this.config = config;
    this.posteriorKind = posterior;
    this.name = opts.name ?? 'autoencoder-kl';
    this.factor = downsamplingFactor(config);
    this.latentNormalization = opts.latentNormalization ?? null;
    const rng = opts.rng ?? createRng(opts.seed ?? 0);
    const block = { rng, groups: config.normNumGroups, init };
    this.encoder = this.registerModule('encoder', new Encoder(config, block));
    this.decoder = this.registerModule('decoder', new Decoder(config, block));
    const z = config.latentChannels;
    this.quantConv = config.useQuantConv
      ? this.registerModule('quant_conv', new Conv2d(2 * z, 2 * z, 1, { rng, init }))
      : null;
    this.postQuantConv = config.usePostQuantConv
      ? this.registerModule('post_quant_conv', new Conv2d(z, z, 1, { rng, init }))
      : null;
  }

  /** Latent shape [H/f, W/f, latentChannels] of an image shape [H, W, C]; H and W must be multiples of f. */
  latentShape(imageShape: [number, number, number]): [number, number, number] {
    if (!Array.isArray(imageShape) || imageShape.length !== 3) {
      throw new Error(
        `AutoencoderKL.latentShape: imageShape must be [H, W, C], got ${JSON.stringify(imageShape)}`,
      );
    }
    const [h, w, c] = imageShape;
    this.checkImageSize(h, w, c, 'imageShape');
    return [h / this.factor, w / this.factor, this.config.latentChannels];
  }

  private checkImageSize(h: number, w: number, c: number, arg: string): void {
    const f = this.factor;
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < f || w < f || h % f !== 0 || w % f !== 0) {
      throw new Error(
        `AutoencoderKL: ${arg} height and width must be positive multiples of ${f} (the downsampling factor), got ${h}x${w}`,
      );
    }
    if (c !== this.config.inChannels) {
      throw new Error(`AutoencoderKL: ${arg} must have ${this.config.inChannels} channels, got ${c}`);
    }
  }

  /** Moments [B, h, w, 2 * latentChannels] (mean, then logvar) of images x [B, H, W, in]. */
  moments(x: tf.Tensor4D): tf.Tensor4D {
    if (!(x instanceof tf.Tensor) || x.rank !== 4) {
      throw new Error(
        `AutoencoderKL.encode: x must be a [B, H, W, ${this.config.inChannels}] tensor (NHWC), got [${x?.shape}]`,
      );
    }
    if (x.dtype !== 'float32')
      throw new Error(`AutoencoderKL.encode: x must be float32 in [-1, 1], got ${x.dtype}`);
    this.checkImageSize(x.shape[1], x.shape[2], x.shape[3], 'x');
    return tf.tidy(() => {
      const h = this.encoder.forward(x);
      return this.quantConv ? this.quantConv.forward(h) : h;
    });
  }

  /**
   * Posterior of images x [B, H, W, in] in [-1, 1]: a {@link DiagonalGaussian} over [B, H/f, W/f,
   * latentChannels], with zero variance for a deterministic autoencoder. The caller disposes it.
   */
  encode(x: tf.Tensor4D): DiagonalGaussian {
    const m = this.moments(x);
    if (this.posteriorKind === 'gaussian') {
      const g = DiagonalGaussian.fromMoments(m);
      m.dispose();
      return g;
    }
    const mean = tf.tidy(() => tf.split(m, 2, -1)[0]);
    m.dispose();
    return DiagonalGaussian.deterministic(mean);
  }

  private checkLatents(z: tf.Tensor4D): void {
    const c = this.config.latentChannels;
    if (!(z instanceof tf.Tensor) || z.rank !== 4 || z.shape[3] !== c) {
      throw new Error(`AutoencoderKL: z must be [B, h, w, ${c}] latents (NHWC), got [${z?.shape}]`);
    }
    if (z.dtype !== 'float32') throw new Error(`AutoencoderKL: z must be float32, got ${z.dtype}`);
  }

  /** Images [B, h*f, w*f, out] (roughly [-1, 1], not clipped) from latents z [B, h, w, latentChannels]. */
  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.checkLatents(z);
    return tf.tidy(() => this.decoder.forward(this.postQuantConv ? this.postQuantConv.forward(z) : z));
  }

  /** {@link decode} plus the input of the decoder's last conv (taming's adaptive weight needs it). */
  decodeWithFeatures(z: tf.Tensor4D): DecoderFeatures {
    this.checkLatents(z);
    const [output, preOut] = tf.tidy(() => {
      const f = this.decoder.forwardWithFeatures(this.postQuantConv ? this.postQuantConv.forward(z) : z);
      return [f.output, f.preOut];
    });
    return { output, preOut };
  }

  /**
   * decode(encode(x).mode()): the deterministic reconstruction every evaluation uses (the reference
   * takes `posterior.mode()` for latents too). x [B, H, W, in] -> [B, H, W, out].
   */
  reconstruct(x: tf.Tensor4D): tf.Tensor4D {
    return reconstruct(this, x);
  }
}
