/**
 * Building blocks of the LPIPS networks: a convolution whose weights are loaded, never trained, and a
 * container that names children by arbitrary indices (torchvision's `features.{i}` skips the ReLU and
 * pooling indices, which hold no weights).
 */
import { createRng, Module, type Rng, torchDefaultUniform } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** Padding of a {@link FrozenConv2d}: zeros on each side (PyTorch's `padding=p`), or TF's 'same' / 'valid'. */
export type FrozenPadding = number | 'same' | 'valid';

/** Options of {@link FrozenConv2d}. */
export interface FrozenConv2dOptions {
  /** Default 1. */
  stride?: number;
  /** Default 0. */
  padding?: FrozenPadding;
  /** Default true. */
  bias?: boolean;
  /**
   * Placeholder weights until real ones are loaded: 'torch' (PyTorch's default init, drawn from `rng`)
   * or 'zeros'. Default 'torch'.
   */
  init?: 'torch' | 'zeros';
  /** Random source of the 'torch' init; default a fixed seed. */
  rng?: Rng;
}

/**
 * A 2-D convolution x [B, H, W, in] -> [B, H', W', out] with non-trainable weights: they are
 * registered as parameters (so they appear in `stateDict()` in PyTorch layout [out, in, kh, kw] and
 * load by name) but are left out of `parameters()`, so optimisers and `tf.variableGrads` skip them.
 */
export class FrozenConv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  /** Kernel [height, width]. */
  readonly kernelHW: [number, number];
  readonly stride: number;
  readonly padding: FrozenPadding;
  /** [kh, kw, in, out]. */
  readonly weight: tf.Variable;
  /** [out], or null without bias. */
  readonly bias: tf.Variable | null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    opts: FrozenConv2dOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    for (const [n, v] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
      ['kernelSize', kh],
      ['kernelSize', kw],
      ['stride', opts.stride ?? 1],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`FrozenConv2d: ${n} must be a positive integer, got ${v}`);
    }
    const pad = opts.padding ?? 0;
    if (!(pad === 'same' || pad === 'valid' || (Number.isInteger(pad) && pad >= 0))) {
      throw new RangeError(
        `FrozenConv2d: padding must be an integer >= 0, 'same' or 'valid', got ${JSON.stringify(pad)}`,
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelHW = [kh, kw];
    this.stride = opts.stride ?? 1;
    this.padding = pad;
    const init = opts.init ?? 'torch';
    if (init !== 'torch' && init !== 'zeros')
      throw new RangeError(`FrozenConv2d: init must be 'torch' or 'zeros', got '${init}'`);
    const rng = init === 'torch' ? (opts.rng ?? createRng(0)) : null;
    const fanIn = inChannels * kh * kw;
    const draw = (shape: number[]): tf.Tensor =>
      rng ? torchDefaultUniform(rng, fanIn, shape) : tf.zeros(shape);
    this.weight = this.registerParameter('weight', draw([kh, kw, inChannels, outChannels]), {
      layout: 'conv2d',
      trainable: false,
    });
    this.bias =
      (opts.bias ?? true) ? this.registerParameter('bias', draw([outChannels]), { trainable: false }) : null;
  }

  /** Output [H', W'] for an input of height h and width w. */
  outputSize(h: number, w: number): [number, number] {
    const s = this.stride;
    if (this.padding === 'same') return [Math.ceil(h / s), Math.ceil(w / s)];
    const p = this.padding === 'valid' ? 0 : this.padding;
    const [kh, kw] = this.kernelHW;
    return [Math.floor((h + 2 * p - kh) / s) + 1, Math.floor((w + 2 * p - kw) / s) + 1];
  }

  /** Replace the kernel ([kh, kw, in, out], tfjs layout) and bias ([out]); the arguments stay the caller's. */
  setWeights(kernel: tf.Tensor, bias?: tf.Tensor): void {
    if (!tf.util.arraysEqual(kernel.shape, this.weight.shape)) {
      throw new Error(
        `FrozenConv2d.setWeights: kernel must be [${this.weight.shape}], got [${kernel.shape}]`,
      );
    }
    if (bias && (!this.bias || !tf.util.arraysEqual(bias.shape, this.bias.shape))) {
      throw new Error(
        `FrozenConv2d.setWeights: bias must be [${this.outChannels}] on a conv with bias, got [${bias.shape}]`,
      );
    }
    this.weight.assign(kernel);
    if (bias && this.bias) this.bias.assign(bias);
  }

  /** x [B, H, W, in] -> [B, H', W', out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `FrozenConv2d.forward: x must be [B, H, W, ${this.inChannels}] (NHWC), got [${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      const p = this.padding;
      const pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
        typeof p === 'string'
          ? p
          : p === 0
            ? 'valid'
            : [
                [0, 0],
                [p, p],
                [p, p],
                [0, 0],
              ];
      const y = tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

/** A module whose children carry given names, e.g. '0', '2', '5' as in a torch `nn.Sequential`. */
export class NamedModules extends Module {
  /** Register `m` under `name` and return it. */
  add<M extends Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }
}
