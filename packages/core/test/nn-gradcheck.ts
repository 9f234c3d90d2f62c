/**
 * Finite-difference gradient checks for the nn tests: the analytic gradient of
 * L = sum(f(x) * R) (R a fixed random tensor) against central differences, at a few coordinates of
 * the input and of every parameter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { createRng } from '../src/index.node.js';

export interface GradCheckOptions {
  /** Coordinates checked per tensor. Default 4. */
  coords?: number;
  /** Finite-difference step. Default 1e-2. */
  eps?: number;
  /** Relative tolerance. Default 2e-2. */
  rtol?: number;
  /** Absolute tolerance as a fraction of the largest gradient entry of that tensor. Default 2e-3. */
  atolFrac?: number;
  seed?: number;
}

function setAt(v: tf.Variable, flat: Float32Array, i: number, value: number): void {
  const copy = flat.slice();
  copy[i] = value;
  v.assign(tf.tensor(copy, v.shape, 'float32'));
}

/**
 * Checks d/dx and d/dparams of sum(f(x) * R). Returns the number of coordinates compared, so a test
 * can assert it checked something.
 */
export function gradCheck(
  f: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  params: tf.Variable[],
  opts: GradCheckOptions = {},
): number {
  const { coords = 4, eps = 1e-2, rtol = 2e-2, atolFrac = 2e-3, seed = 123 } = opts;
  const rng = createRng(seed);
  const xv = tf.variable(x.clone());
  const outShape = tf.tidy(() => f(xv).shape);
  const r = rng.normal(outShape);
  const loss = () => tf.tidy(() => tf.sum(tf.mul(f(xv), r)) as tf.Scalar);
  const targets: tf.Variable[] = [xv, ...params];
  const { grads } = tf.tidy(() => {
    const res = tf.variableGrads(loss, targets);
    return { grads: res.grads };
  });
  let compared = 0;
  for (const v of targets) {
    const g = grads[v.name];
    expect(g, `no gradient for ${v.name}`).toBeDefined();
    const ana = g.dataSync() as Float32Array;
    const scale = ana.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    expect(scale, `gradient of ${v.name} is identically zero`).toBeGreaterThan(0);
    const flat = v.dataSync().slice() as Float32Array;
    for (let c = 0; c < Math.min(coords, flat.length); c++) {
      const i = rng.nextInt(flat.length);
      setAt(v, flat, i, flat[i] + eps);
      const lp = loss();
      setAt(v, flat, i, flat[i] - eps);
      const lm = loss();
      setAt(v, flat, i, flat[i]);
      const num = (lp.dataSync()[0] - lm.dataSync()[0]) / (2 * eps);
      tf.dispose([lp, lm]);
      const err = Math.abs(num - ana[i]);
      expect(
        err,
        `${v.name}[${i}]: finite difference ${num}, analytic ${ana[i]} (largest entry ${scale})`,
      ).toBeLessThanOrEqual(rtol * Math.abs(ana[i]) + atolFrac * scale);
      compared++;
    }
  }
  tf.dispose([xv, r, ...Object.values(grads)]);
  return compared;
}

/** Set a module's parameters to random values (so norms and biases are not at their trivial init). */
export function randomizeParams(params: [string, tf.Variable][], seed = 7, std = 0.5): void {
  const rng = createRng(seed);
  for (const [name, v] of params) {
    const isScale = /(norm\d?|_norm|^norm)\.weight$|^weight$/.test(name) && v.rank === 1;
    const t = rng.normal(v.shape, isScale ? 1 : 0, std);
    v.assign(t);
    t.dispose();
  }
}

/** Element-wise |got - want| <= atol + rtol * |want|, reporting the worst index. */
export function expectAllClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-5,
): void {
  expect(got.length, 'length').toBe(want.length);
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(e <= excess)) {
      excess = e;
      worst = i;
    }
  }
  expect(worst, worst >= 0 ? `index ${worst}: got ${got[worst]}, want ${want[worst]}` : '').toBe(-1);
}
