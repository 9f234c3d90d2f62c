/**
 * The PatchGAN discriminator of taming-transformers (`NLayerDiscriminator`, from pix2pix), which
 * LDM's and SD's autoencoder losses use.
 */
import { Conv2d, createRng, Module, type Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d } from './batch-norm.js';
import { NamedModules } from './lpips/frozen-conv.js';

/** Options of {@link NLayerDiscriminator}. */
export interface NLayerDiscriminatorOptions {
  /** Input channels; default 3. */
  inChannels?: number;
  /** Filters of the first conv (ndf); default 64. */
  ndf?: number;
  /** Number of stride-2 stages (n_layers); default 3. */
  nLayers?: number;
  /** Random source of the initial weights; default a fixed seed. */
  rng?: Rng;
}

type Layer = { kind: 'conv'; m: Conv2d } | { kind: 'bn'; m: BatchNorm2d } | { kind: 'lrelu' };

/**
 * taming's NLayerDiscriminator with its default normalisation (BatchNorm2d; taming's `use_actnorm`
 * alternative is not offered): Conv(in -> ndf, k4 s2 p1) + LeakyReLU(0.2), then for n = 1..nLayers-1
 * Conv(k4 s2 p1, no bias) + BatchNorm + LeakyReLU with ndf * min(2^n, 8) filters, then the same at
 * stride 1 with ndf * min(2^nLayers, 8) filters, then Conv(-> 1, k4 s1 p1) giving a map of patch
 * logits. Initialised as taming's `weights_init`: conv weights N(0, 0.02), BatchNorm weight
 * N(1, 0.02) and bias 0; the two conv biases keep PyTorch's default init. State-dict names are
 * taming's: `main.{i}.weight`, `main.{i}.bias`, `main.{i}.running_mean`, ... with i the index in its
 * nn.Sequential (0, 2, 3, 5, 6, 8, 9, 11 for nLayers = 3).
 *
 * For x [B, H, W, in] the logits are [B, H/8 - 2, W/8 - 2, 1] with nLayers = 3 (H divisible by 8):
 * 2 x 2 at 32 px, 6 x 6 at 64 px, 30 x 30 at 256 px.
 */
export class NLayerDiscriminator extends Module {
  readonly inChannels: number;
  private readonly layers: Layer[] = [];

  constructor(opts: NLayerDiscriminatorOptions = {}) {
    super();
    const inCh = opts.inChannels ?? 3;
    const ndf = opts.ndf ?? 64;
    const nLayers = opts.nLayers ?? 3;
    for (const [n, v, min] of [
      ['inChannels', inCh, 1],
      ['ndf', ndf, 1],
      ['nLayers', nLayers, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min)
        throw new RangeError(`NLayerDiscriminator: ${n} must be an integer >= ${min}, got ${v}`);
    }
    this.inChannels = inCh;
    const rng = opts.rng ?? createRng(0);
    const main = this.registerModule('main', new NamedModules());
    let index = 0;
    const conv = (cin: number, cout: number, stride: number, bias: boolean): void => {
      const c = new Conv2d(cin, cout, 4, { rng, stride, padding: 1, bias, init: 'torch' });
      tf.tidy(() => c.weight.assign(rng.normal(c.weight.shape, 0, 0.02)));
      this.layers.push({ kind: 'conv', m: main.add(String(index++), c) });
    };
    const norm = (c: number): void => {
      const bn = new BatchNorm2d(c);
      tf.tidy(() => bn.weight.assign(rng.normal([c], 1, 0.02)));
      this.layers.push({ kind: 'bn', m: main.add(String(index++), bn) });
    };
    const lrelu = (): void => {
      this.layers.push({ kind: 'lrelu' });
      index++;
    };
    conv(inCh, ndf, 2, true);
    lrelu();
    let mult = 1;
    // Stride 2 for n < nLayers, then the stride-1 stage n = nLayers (n = 0 alone when nLayers = 0).
    for (let n = Math.min(1, nLayers); n <= nLayers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      conv(ndf * prev, ndf * mult, n < nLayers ? 2 : 1, false);
      norm(ndf * mult);
      lrelu();
    }
    conv(ndf * mult, 1, 1, true);
  }

  /** x [B, H, W, in] (images in [-1, 1]) -> patch logits [B, h, w, 1]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `NLayerDiscriminator.forward: x must be [B, H, W, ${this.inChannels}] (NHWC), got [${x.shape}]`,
      );
    }
    let [h, w] = [x.shape[1], x.shape[2]];
    for (const l of this.layers) if (l.kind === 'conv') [h, w] = l.m.outputSize(h, w);
    if (h < 1 || w < 1)
      throw new Error(`NLayerDiscriminator.forward: input ${x.shape[1]}x${x.shape[2]} is too small`);
    return tf.tidy(() => {
      let y: tf.Tensor4D = x;
      for (const l of this.layers) {
        if (l.kind === 'lrelu') y = tf.leakyRelu(y, 0.2);
        else y = l.m.forward(y) as tf.Tensor4D;
      }
      return y;
    });
  }
}
