/** 2-D convolution on NHWC feature maps with PyTorch's padding and output-size rules. */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { torchDefaultUniform, xavierUniform } from './init.js';
import { Module } from './module.js';

/**
 * Padding of a {@link Conv2d}: an integer (or [top/bottom, left/right]) of zeros on each side, as
 * PyTorch's `padding=p`, or 'valid' (none) or 'same' (output ceil(in / stride); with stride 1 this is
 * PyTorch's 'same', with an odd total the extra row / column goes at the bottom / right).
 */
export type Conv2dPadding = number | [number, number] | 'same' | 'valid';

/**
 * Initialisation of a {@link Conv2d}: 'torch' (nn.Conv2d's default, U(+-1/sqrt(in*kh*kw)) for weight
 * and bias), 'xavier_uniform' (torch's xavier_uniform_ on the 4-D kernel), 'xavier_uniform_flat'
 * (xavier on the kernel viewed as [out, in*kh*kw], as MAE's patch embedding), each with a zero bias
 * except 'torch'; or 'zeros'.
 */
export type Conv2dInit = 'torch' | 'xavier_uniform' | 'xavier_uniform_flat' | 'zeros';

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
  rng: Rng;
  /** Default 1. */
  stride?: number | [number, number];
  /** Default 0. */
  padding?: Conv2dPadding;
  /** Default true. */
  bias?: boolean;
  /** Default 'torch'. */
  init?: Conv2dInit;
}

function pair(v: number | [number, number], name: string, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new RangeError(
      `Conv2d: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`,
    );
  }
  return p;
}

/**
 * Conv2d(inChannels, outChannels, kernel): x [B, H, W, in] -> [B, H', W', out]. The kernel is held as
 * [kh, kw, in, out] (tfjs's layout) and appears in `stateDict()` as PyTorch's [out, in, kh, kw].
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  /** [kh, kw, in, out]. */
  readonly weight: tf.Variable;
  /** [out], or null without bias. */
  readonly bias: tf.Variable | null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    opts: Conv2dOptions,
  ) {
    super();
    checkNumber(inChannels, 'Conv2d: inChannels', 'a positive integer');
    checkNumber(outChannels, 'Conv2d: outChannels', 'a positive integer');
    if (!opts?.rng) throw new TypeError('Conv2d: opts.rng (an Rng from createRng) is required');
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(kernelSize, 'kernelSize', 1);
    this.stride = pair(opts.stride ?? 1, 'stride', 1);
    const pad = opts.padding ?? 0;
    this.padding = pad === 'same' || pad === 'valid' ? pad : pair(pad, 'padding', 0);
    const [kh, kw] = this.kernelSize;
    const fanIn = inChannels * kh * kw;
    const shape = [kh, kw, inChannels, outChannels];
    const init = opts.init ?? 'torch';
    const withBias = opts.bias ?? true;
    let w: tf.Tensor;
    let b: tf.Tensor | null = null;
    if (init === 'torch') {
      w = torchDefaultUniform(opts.rng, fanIn, shape);
      if (withBias) b = torchDefaultUniform(opts.rng, fanIn, [outChannels]);
    } else if (init === 'xavier_uniform') w = xavierUniform(opts.rng, fanIn, outChannels * kh * kw, shape);
    else if (init === 'xavier_uniform_flat') w = xavierUniform(opts.rng, fanIn, outChannels, shape);
    else if (init === 'zeros') w = tf.zeros(shape);
    else throw new Error(`Conv2d: unknown init '${init}'`);
    this.weight = this.registerParameter('weight', w, { layout: 'conv2d', decay: true });
    this.bias = withBias
      ? this.registerParameter('bias', b ?? tf.zeros([outChannels]), { decay: false })
      : null;
  }

  /** Output [H', W'] for an input of height h and width w (PyTorch's formula for integer padding). */
  outputSize(h: number, w: number): [number, number] {
    const [sh, sw] = this.stride;
    if (this.padding === 'same') return [Math.ceil(h / sh), Math.ceil(w / sw)];
    const [ph, pw] = this.padding === 'valid' ? [0, 0] : this.padding;
    const [kh, kw] = this.kernelSize;
    return [Math.floor((h + 2 * ph - kh) / sh) + 1, Math.floor((w + 2 * pw - kw) / sw) + 1];
  }

  /** x [B, H, W, in] -> [B, H', W', out] with [H', W'] = {@link outputSize}(H, W). */
  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `Conv2d.forward: x must have shape [B, H, W, ${this.inChannels}] (NHWC), got [${x.shape}]`,
      );
    }
    const [, ih, iw] = x.shape as number[];
    const [oh, ow] = this.outputSize(ih, iw);
    if (oh < 1 || ow < 1) {
      throw new Error(
        `Conv2d.forward: input ${ih}x${iw} is too small for kernel [${this.kernelSize}] with padding ${JSON.stringify(this.padding)}`,
      );
    }
    return tf.tidy(() => {
      const pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
        typeof this.padding === 'string'
          ? this.padding
          : [
              [0, 0],
              [this.padding[0], this.padding[0]],
              [this.padding[1], this.padding[1]],
              [0, 0],
            ];
      const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, pad);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}
