/**
 * Activation functions with hand-written gradients. Autodiff through erf / tanh records several
 * slow transcendental ops on wasm; these save what the backward pass needs in the forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GELU, GELU_GRAD, hasKernel } from '../backend/kernels/fused.js';
import { customGrad1 } from './custom-grad.js';

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
// 0.5 * (1 + tanh(z)) = sigmoid(2z), and sigmoid is the fast transcendental on wasm.
const TANH_GELU_K = 2 * Math.sqrt(2 / Math.PI);
const TANH_GELU_C = 0.044715;

const geluExact = customGrad1((x: tf.Tensor, save: tf.GradSaveFunc) => {
  if (x.dtype === 'float32' && hasKernel(GELU)) {
    // One pass over the wasm heap each way instead of five and seven kernels.
    save([x]);
    return {
      value: tf.engine().runKernel(GELU, { x }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) => [
        tf.engine().runKernel(GELU_GRAD, { x: sx, dy }) as tf.Tensor,
      ],
    };
  }
  const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, SQRT1_2))));
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: tf.Tensor, [sx, scdf]: tf.Tensor[]) => {
      const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(sx))));
      return [tf.mul(dy, tf.add(scdf, tf.mul(sx, pdf)))];
    },
  };
});

const geluTanhFn = customGrad1((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const x2 = tf.square(x);
  const s = tf.sigmoid(tf.mul(tf.mul(x, tf.add(1, tf.mul(TANH_GELU_C, x2))), TANH_GELU_K));
  save([x, x2, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [sx, sx2, ss]: tf.Tensor[]) => {
      // d/dx x*s(u) = s + x * s * (1 - s) * u', u = K (x + C x^3), u' = K (1 + 3 C x^2).
      const du = tf.mul(TANH_GELU_K, tf.add(1, tf.mul(3 * TANH_GELU_C, sx2)));
      const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(sx, du));
      return [tf.mul(dy, tf.add(ss, ds))];
    },
  };
});

const siluFn = customGrad1((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const s = tf.sigmoid(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [sx, ss]: tf.Tensor[]) => [
      tf.mul(dy, tf.mul(ss, tf.add(1, tf.mul(sx, tf.sub(1, ss))))),
    ],
  };
});

/** Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as torch's nn.GELU(). Any shape. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluExact(x);
}

/** Tanh-approximated GELU, as torch's nn.GELU(approximate='tanh') (DiT, LightningDiT). Any shape. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return geluTanhFn(x);
}

/** SiLU / swish, x * sigmoid(x). Any shape. */
export function silu(x: tf.Tensor): tf.Tensor {
  return siluFn(x);
}

/** Names of the activations {@link activation} knows. */
export type ActivationName = 'gelu' | 'gelu_tanh' | 'silu' | 'relu' | 'identity';

/** The activation function of a name. */
export function activation(name: ActivationName): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'gelu_tanh':
      return geluTanh;
    case 'silu':
      return silu;
    case 'relu':
      return tf.relu;
    case 'identity':
      return (x) => x.clone();
    default:
      throw new Error(`activation: name must be gelu, gelu_tanh, silu, relu or identity, got '${name}'`);
  }
}
