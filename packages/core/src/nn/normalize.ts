/**
 * Standardisation over some axes with a hand-written gradient, shared by LayerNorm, RMSNorm and
 * GroupNorm. Autodiff through `tf.moments` records a dozen small ops per call; the closed-form
 * backward needs three reductions and is both faster on wasm and exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, NORM, NORM_GRAD } from '../backend/kernels/fused.js';
import { customGrad1, customGrad2, customGrad3 } from './custom-grad.js';
import { sumRows } from './linear.js';

/**
 * (x - mean) / sqrt(var + eps) over `axes` (or, with `rms`, x / sqrt(mean(x^2) + eps)), no affine.
 * Returns a tensor of x's shape.
 */
export function standardize(x: tf.Tensor, axes: number[], eps: number, rms = false): tf.Tensor {
  const f = customGrad1((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const centred = rms ? input : tf.sub(input, tf.mean(input, axes, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), axes, true), eps));
    const xhat = tf.mul(centred, rstd);
    save([xhat, rstd]);
    return {
      value: xhat,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sr] = saved;
        // d xhat / d x applied to dy: rstd * (dy - mean(dy) - xhat * mean(dy * xhat)); RMS drops mean(dy).
        let g = tf.sub(dy, tf.mul(sh, tf.mean(tf.mul(dy, sh), axes, true)));
        if (!rms) g = tf.sub(g, tf.mean(dy, axes, true));
        return [tf.mul(g, sr)];
      },
    };
  });
  return f(x);
}

const scaleShiftFn = customGrad3((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.add(tf.mul(x, w), b),
    gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => {
      const c = sw.shape[0] as number;
      const dy2 = tf.reshape(dy, [-1, c]);
      return [tf.mul(dy, sw), sumRows(tf.mul(dy2, tf.reshape(sx, [-1, c]))), sumRows(dy2)];
    },
  };
});

const scaleFn = customGrad2((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.mul(x, w),
    gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => {
      const c = sw.shape[0] as number;
      return [tf.mul(dy, sw), sumRows(tf.mul(tf.reshape(dy, [-1, c]), tf.reshape(sx, [-1, c])))];
    },
  };
});

/**
 * x * weight (+ bias) with weight, bias [C] broadcast over x [..., C]. The parameter gradients are
 * ones-row products rather than reductions over leading axes, which wasm does slowly.
 */
export function scaleShift(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  const c = x.shape[x.rank - 1];
  if (weight.rank !== 1 || weight.shape[0] !== c || (bias && (bias.rank !== 1 || bias.shape[0] !== c))) {
    throw new Error(`scaleShift: weight and bias must have shape [${c}] for x [${x.shape}]`);
  }
  return bias ? scaleShiftFn(x, weight, bias) : scaleFn(x, weight);
}

/** LayerNorm / RMSNorm with weight (and bias) as one kernel each way (wasm); see {@link normalizeLastAxis}. */
function fusedNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null, eps: number, rms: boolean) {
  const forward = (inputs: tf.NamedTensorMap, save: tf.GradSaveFunc) => {
    const [y, xhat, rstd] = tf.engine().runKernel(NORM, inputs, { eps, rms }) as tf.Tensor[];
    save([xhat, rstd, inputs.weight]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [sh, sr, sw]: tf.Tensor[]) => {
        const grads = tf
          .engine()
          .runKernel(NORM_GRAD, { dy, xhat: sh, rstd: sr, weight: sw }, { rms }) as tf.Tensor[];
        if (bias) return grads;
        grads[2].dispose();
        return grads.slice(0, 2);
      },
    };
  };
  if (bias)
    return customGrad3((a, w, b, save) => forward({ x: a, weight: w, bias: b }, save))(x, weight, bias);
  return customGrad2((a, w, save) => forward({ x: a, weight: w }, save))(x, weight);
}

/**
 * Normalise over the last axis and scale (and shift): LayerNorm (`rms` false) or RMSNorm, with
 * weight and bias [C]. On wasm (float32) one kernel does the forward pass and one the backward,
 * where the tensor-op form runs about twenty; elsewhere {@link standardize} then {@link scaleShift}.
 */
export function normalizeLastAxis(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor | null,
  eps: number,
  rms: boolean,
): tf.Tensor {
  if (x.dtype === 'float32' && hasKernel(NORM)) return fusedNorm(x, weight, bias, eps, rms);
  return scaleShift(standardize(x, [x.rank - 1], eps, rms), weight, bias);
}
