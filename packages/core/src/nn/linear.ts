/**
 * Fully connected layer, and the 2-D matrix product it is built on.
 *
 * tfjs's own matMul gradient multiplies with transpose flags. tfjs-backend-wasm's BatchMatMul reaches
 * XNNPACK only when neither operand is transposed; with a flag it falls back to a scalar loop 10-20x
 * slower. {@link matMul2d} therefore writes its backward pass itself: where the backend's product takes
 * the flags at no cost (the wasm backend with our kernels, see `setupBackend`), it passes them; elsewhere
 * it transposes explicitly and multiplies plainly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, SUM_ROWS } from '../backend/kernels/fused.js';
import { productsTakeTransposeFlags } from '../backend/kernels/index.js';
import { checkNumber } from '../checks.js';
import type { Rng } from '../rng.js';
import { customGrad2, customGrad3 } from './custom-grad.js';
import { normal, torchDefaultUniform, xavierUniform } from './init.js';
import { Module } from './module.js';

/** How {@link matMul2d} computes its gradient. */
export type MatMulGradMode = 'explicit-transpose' | 'tfjs';

let gradMode: MatMulGradMode = 'explicit-transpose';

/**
 * Choose how {@link matMul2d} (and so every Linear) differentiates: 'explicit-transpose' (default;
 * its own backward pass, which on the wasm backend with our kernels passes transpose flags to the
 * product and elsewhere transposes first, fast on wasm and cpu) or 'tfjs' (tfjs's matMul gradient with
 * transpose flags, which backends with fast transposed GEMM such as webgl or tfjs-node may prefer).
 * Returns the previous mode.
 */
export function setMatMulGradMode(mode: MatMulGradMode): MatMulGradMode {
  if (mode !== 'explicit-transpose' && mode !== 'tfjs') {
    throw new Error(`setMatMulGradMode: mode must be 'explicit-transpose' or 'tfjs', got '${mode}'`);
  }
  const prev = gradMode;
  gradMode = mode;
  return prev;
}

/** The current {@link MatMulGradMode}. */
export function getMatMulGradMode(): MatMulGradMode {
  return gradMode;
}

/**
 * Column sums of a [M, N] matrix as [N]: on wasm one SIMD pass over the rows in order, elsewhere a
 * ones-row product (a reduction over the leading axis transposes first on most backends).
 */
export function sumRows(t: tf.Tensor): tf.Tensor1D {
  if (t.rank !== 2) throw new Error(`sumRows: expected a [M, N] matrix, got [${t.shape}]`);
  if (t.dtype === 'float32' && hasKernel(SUM_ROWS))
    return tf.engine().runKernel(SUM_ROWS, { x: t }) as tf.Tensor1D;
  const [m, n] = t.shape as [number, number];
  return tf.reshape(tf.matMul(tf.ones([1, m]), t as tf.Tensor2D), [n]);
}

/**
 * d(a @ b)/db applied to dy: a^T dy. With transpose flags where the backend's product takes them at
 * no cost; otherwise transposing whichever of a [M, K] and dy [M, N] is narrower.
 */
function weightGrad(a: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (productsTakeTransposeFlags()) return tf.matMul(a, dy, true, false);
  if (a.shape[1] <= dy.shape[1]) return tf.matMul(tf.transpose(a), dy);
  return tf.transpose(tf.matMul(tf.transpose(dy), a)) as tf.Tensor2D;
}

/** d(a @ b)/da applied to dy: dy b^T. */
function inputGrad(dy: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (productsTakeTransposeFlags()) return tf.matMul(dy, b, false, true);
  return tf.matMul(dy, tf.transpose(b));
}

const matMulExplicit = customGrad2((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [inputGrad(dy as tf.Tensor2D, sb), weightGrad(sa, dy as tf.Tensor2D)];
    },
  };
});

const affineExplicit = customGrad3((a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    // One kernel where the backend fuses the bias into the product (ours on wasm does).
    value: tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      const d = dy as tf.Tensor2D;
      return [inputGrad(d, sb), weightGrad(sa, d), sumRows(d)];
    },
  };
});

/**
 * `a @ b` for a [M, K] and b [K, N] -> [M, N], differentiable in both, with a backward pass made of
 * explicit transposes and untransposed products (see the file comment).
 */
export function matMul2d(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`matMul2d: expected a [M, K] and b [K, N], got a [${a.shape}] and b [${b.shape}]`);
  }
  if (gradMode === 'tfjs') return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  return matMulExplicit(a, b) as tf.Tensor2D;
}

/** `a @ b + bias` for a [M, K], b [K, N], bias [N] -> [M, N]; the gradient as {@link matMul2d}'s. */
export function affine2d(a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  if (
    a.rank !== 2 ||
    b.rank !== 2 ||
    a.shape[1] !== b.shape[0] ||
    bias.rank !== 1 ||
    bias.shape[0] !== b.shape[1]
  ) {
    throw new Error(
      `affine2d: expected a [M, K], b [K, N], bias [N], got a [${a.shape}], b [${b.shape}], bias [${bias.shape}]`,
    );
  }
  if (gradMode === 'tfjs') return tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), bias);
  return affineExplicit(a, b, bias) as tf.Tensor2D;
}

/**
 * Weight initialisation of a {@link Linear}: 'xavier_uniform' (MAE / DiT / timm ViT), 'torch'
 * (PyTorch's nn.Linear default, U(+-1/sqrt(in)) for weight and bias), 'zeros' (adaLN-zero style), or
 * a normal with the given std (bias zero).
 */
export type LinearInit = 'xavier_uniform' | 'torch' | 'zeros' | { normalStd: number };

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Source of the initial weights. */
  rng: Rng;
  /** Add a bias. Default true. */
  bias?: boolean;
  /** Default 'xavier_uniform' with a zero bias. */
  init?: LinearInit;
}

/**
 * y = x W^T + b, as torch.nn.Linear. The weight is held as [in, out] (so the forward product needs no
 * transpose) and appears in `stateDict()` as PyTorch's [out, in].
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [in, out]. */
  readonly weight: tf.Variable;
  /** [out], or null without bias. */
  readonly bias: tf.Variable | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions) {
    super();
    checkNumber(inFeatures, 'Linear: inFeatures', 'a positive integer');
    checkNumber(outFeatures, 'Linear: outFeatures', 'a positive integer');
    if (!opts?.rng) throw new TypeError('Linear: opts.rng (an Rng from createRng) is required');
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const init = opts.init ?? 'xavier_uniform';
    const shape = [inFeatures, outFeatures];
    let w: tf.Tensor;
    let b: tf.Tensor | null = null;
    const withBias = opts.bias ?? true;
    if (init === 'xavier_uniform') w = xavierUniform(opts.rng, inFeatures, outFeatures, shape);
    else if (init === 'torch') {
      w = torchDefaultUniform(opts.rng, inFeatures, shape);
      if (withBias) b = torchDefaultUniform(opts.rng, inFeatures, [outFeatures]);
    } else if (init === 'zeros') w = tf.zeros(shape);
    else if (typeof init === 'object' && Number.isFinite(init.normalStd))
      w = normal(opts.rng, shape, init.normalStd);
    else throw new Error(`Linear: unknown init ${JSON.stringify(init)}`);
    this.weight = this.registerParameter('weight', w, { layout: 'linear', decay: true });
    this.bias = withBias
      ? this.registerParameter('bias', b ?? tf.zeros([outFeatures]), { decay: false })
      : null;
  }

  /** x [..., in] -> [..., out]. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new Error(`Linear.forward: x must have shape [..., ${this.inFeatures}], got [${x.shape}]`);
    }
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const y = this.bias ? affine2d(x2, this.weight, this.bias) : matMul2d(x2, this.weight);
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}
