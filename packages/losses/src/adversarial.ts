/**
 * GAN losses and the adaptive generator weight of taming-transformers' `LPIPSWithDiscriminator` /
 * `VQLPIPSWithDiscriminator` (as LDM and SD train their autoencoders).
 */
import * as tf from '@tensorflow/tfjs-core';

/** 0.5 * (mean(onReal(real)) + mean(onFake(fake))) after checking the logits: the two discriminator losses. */
function discriminatorLoss(
  name: string,
  real: tf.Tensor,
  fake: tf.Tensor,
  onReal: (t: tf.Tensor) => tf.Tensor,
  onFake: (t: tf.Tensor) => tf.Tensor,
): tf.Scalar {
  if (!(real instanceof tf.Tensor) || !(fake instanceof tf.Tensor))
    throw new TypeError(`${name}: logitsReal and logitsFake must be tensors`);
  if (real.size === 0 || fake.size === 0) throw new Error(`${name}: logits must not be empty`);
  return tf.tidy(() => tf.mul(tf.add(tf.mean(onReal(real)), tf.mean(onFake(fake))), 0.5) as tf.Scalar);
}

/**
 * Hinge discriminator loss: 0.5 * (mean(relu(1 - logitsReal)) + mean(relu(1 + logitsFake))).
 * @param logitsReal discriminator logits on real images, any shape (e.g. [B, h, w, 1]).
 * @param logitsFake logits on reconstructions, any shape.
 * @returns a scalar the caller owns.
 */
export function hingeDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  const onReal = (r: tf.Tensor) => tf.relu(tf.sub(1, r));
  return discriminatorLoss('hingeDLoss', logitsReal, logitsFake, onReal, (f) => tf.relu(tf.add(1, f)));
}

/**
 * Vanilla (non-saturating BCE) discriminator loss: 0.5 * (mean(softplus(-logitsReal)) +
 * mean(softplus(logitsFake))).
 * @returns a scalar the caller owns.
 */
export function vanillaDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  const onReal = (r: tf.Tensor) => tf.softplus(tf.neg(r));
  return discriminatorLoss('vanillaDLoss', logitsReal, logitsFake, onReal, tf.softplus);
}

/**
 * The generator's adversarial loss as taming computes it for both disc losses: -mean(logitsFake).
 * @returns a scalar the caller owns.
 */
export function generatorLoss(logitsFake: tf.Tensor): tf.Scalar {
  if (!(logitsFake instanceof tf.Tensor) || logitsFake.size === 0)
    throw new Error('generatorLoss: logitsFake must be a non-empty tensor');
  return tf.tidy(() => tf.neg(tf.mean(logitsFake)) as tf.Scalar);
}

/**
 * taming's `adopt_weight`: `value` before step `threshold` (the discriminator start), else `weight`.
 */
export function adoptWeight(weight: number, globalStep: number, threshold = 0, value = 0): number {
  if (!Number.isFinite(globalStep))
    throw new RangeError(`adoptWeight: globalStep must be a number, got ${globalStep}`);
  return globalStep < threshold ? value : weight;
}

function l2Norm(g: tf.Tensor | tf.Tensor[]): tf.Scalar {
  const list = Array.isArray(g) ? g : [g];
  return tf.sqrt(tf.addN(list.map((t) => tf.sum(tf.square(t))))) as tf.Scalar;
}

/**
 * taming's `calculate_adaptive_weight`: d = ||grad nll|| / (||grad g|| + 1e-4), clamped to [0, 1e4],
 * times `discWeight`. Both gradients are of the two losses with respect to the same parameters, in
 * taming the decoder's last layer (e.g. `tf.grads` or `tf.variableGrads` of each loss restricted to
 * that variable); several tensors are treated as one concatenated vector. Like taming's
 * `.detach()`, the weight must act as a constant: compute it outside the function being
 * differentiated and multiply the generator loss by it there.
 * @returns a scalar the caller owns.
 */
export function adaptiveWeight(
  nllGrads: tf.Tensor | tf.Tensor[],
  gGrads: tf.Tensor | tf.Tensor[],
  discWeight = 1,
): tf.Scalar {
  const count = (g: tf.Tensor | tf.Tensor[]): number =>
    Array.isArray(g) ? g.length : g instanceof tf.Tensor ? 1 : 0;
  if (count(nllGrads) === 0 || count(gGrads) === 0)
    throw new Error('adaptiveWeight: nllGrads and gGrads must be tensors or non-empty tensor arrays');
  if (!Number.isFinite(discWeight))
    throw new RangeError(`adaptiveWeight: discWeight must be a finite number, got ${discWeight}`);
  return tf.tidy(() => {
    const d = tf.div(l2Norm(nllGrads), tf.add(l2Norm(gGrads), 1e-4));
    return tf.mul(tf.clipByValue(d, 0, 1e4), discWeight) as tf.Scalar;
  });
}
