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

  /**
   * x [B, H, W, in] -> [B, H', W', out], with a ReLU after the bias when `opts.relu`. Differentiable
   * with respect to `x` only (see {@link frozenConv2d}).
   */
  forward(x: tf.Tensor4D, opts: { relu?: boolean } = {}): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `FrozenConv2d.forward: x must be [B, H, W, ${this.inChannels}] (NHWC), got [${x.shape}]`,
      );
    }
    const p = this.padding;
    const pad: FrozenConvPad =
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
    return frozenConv2d(x, this.weight as tf.Tensor4D, this.bias as tf.Tensor1D | null, {
      stride: this.stride,
      pad,
      relu: opts.relu ?? false,
    });
  }
}

/** Padding as tfjs's conv2d takes it. */
export type FrozenConvPad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * relu(conv2d(x, filter) + bias) (the ReLU only when `opts.relu`) as one fused kernel whose gradient
 * flows to `x` alone: the filter and bias are constants. Its backward pass is the ReLU mask and the
 * input gradient of the convolution, without the filter gradient a trainable conv would also compute,
 * and the gradient tape records one op that keeps only its output (a plain conv + add + relu chain
 * records three, with their inputs). Filter rows or columns that only ever meet the zero padding (a
 * 1x7 'same' kernel on a 2-pixel-wide map reads padding with 4 of its 7 columns) are left out: they
 * add exact zeros.
 * @param x [B, H, W, in].
 * @param filter [kh, kw, in, out].
 * @param bias [out], or null.
 */
export function frozenConv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D | null,
  opts: { stride: number; pad: FrozenConvPad; relu: boolean },
): tf.Tensor4D {
  const { stride, relu } = opts;
  const crop = paddingOnlyTaps(x.shape, filter.shape, stride, opts.pad);
  const pad = crop?.pad ?? opts.pad;
  const op = tf.customGrad(((input: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const w = crop ? tf.slice(filter, crop.begin, crop.size) : filter;
    // The kernel itself: tf.fused.conv2d would split into conv, add and relu while a gradient is
    // being recorded, although nothing here is recorded (a custom gradient's forward pass is not).
    const attrs = {
      strides: stride,
      pad,
      dataFormat: 'NHWC',
      dilations: 1,
      activation: relu ? 'relu' : 'linear',
    };
    const y = tf
      .engine()
      .runKernel(
        tf.FusedConv2D,
        bias ? { x: input, filter: w, bias } : { x: input, filter: w },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor4D;
    save(crop ? [w, ...(relu ? [y] : [])] : relu ? [y] : []);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [sw, sy] = crop ? saved : [filter, saved[0]];
        // y > 0 exactly where the pre-activation is, so the mask from the output is the ReLU's own.
        const g = relu ? tf.mul(dy, tf.step(sy)) : dy;
        return [tf.conv2dTranspose(g as tf.Tensor4D, sw as tf.Tensor4D, input.shape, stride, pad)];
      },
    };
    // tf.customGrad's declared type mixes the inputs with the save function.
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}

type Crop = { begin: number[]; size: number[]; pad: FrozenConvPad };

// The filter window that can meet real input on an x of shape `xs`, with the explicit padding that
// keeps the output where it was; null when every tap can.
function paddingOnlyTaps(xs: number[], fs: number[], stride: number, pad: FrozenConvPad): Crop | null {
  const info = tf.backend_util.computeConv2DInfo(
    xs as [number, number, number, number],
    fs as [number, number, number, number],
    stride,
    1,
    pad,
  );
  const { top, bottom, left, right } = info.padInfo;
  // Tap t of a side reads input o * stride + t - before for the outputs o = 0 .. out - 1.
  const span = (size: number, k: number, out: number, before: number): [number, number] => [
    Math.max(0, before - (out - 1) * stride),
    Math.min(k - 1, size - 1 + before),
  ];
  const [t0, t1] = span(info.inHeight, info.filterHeight, info.outHeight, top);
  const [u0, u1] = span(info.inWidth, info.filterWidth, info.outWidth, left);
  if (t0 === 0 && u0 === 0 && t1 === info.filterHeight - 1 && u1 === info.filterWidth - 1) return null;
  if (t0 > t1 || u0 > u1) return null; // a window that meets no input at all: leave it as it is
  const kh = t1 - t0 + 1;
  const kw = u1 - u0 + 1;
  const padded: FrozenConvPad = [
    [0, 0],
    [top - t0, bottom - (info.filterHeight - 1 - t1)],
    [left - u0, right - (info.filterWidth - 1 - u1)],
    [0, 0],
  ];
  if (padded.flat().some((p) => p < 0)) return null;
  const check = tf.backend_util.computeConv2DInfo(
    xs as [number, number, number, number],
    [kh, kw, fs[2], fs[3]],
    stride,
    1,
    padded,
  );
  if (check.outHeight !== info.outHeight || check.outWidth !== info.outWidth) return null;
  return { begin: [t0, u0, 0, 0], size: [kh, kw, fs[2], fs[3]], pad: padded };
}

/** A module whose children carry given names, e.g. '0', '2', '5' as in a torch `nn.Sequential`. */
export class NamedModules extends Module {
  /** Register `m` under `name` and return it. */
  add<M extends Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }
}
