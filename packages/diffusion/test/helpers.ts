/** Small helpers shared by this package's tests. */
import { createRng, type Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { LightningDiT } from '../src/index.js';

/** max |a - b| over all elements. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Give every trainable parameter random values (norm scales near 1), so no path is zero. */
export function randomize(m: Module, seed: number, std: number): void {
  const rng = createRng(seed);
  for (const [name, v] of m.namedParameters()) {
    const r = rng.normal(v.shape, 0, std);
    const isScale = v.rank === 1 && name.endsWith('weight');
    v.assign(isScale ? tf.tidy(() => tf.add(r, 1)) : r);
    r.dispose();
  }
}

/** A denoiser from a function of (x, t [B] host values, y [B] host labels), for sampler tests. */
export class FnDenoiser {
  readonly inChannels: number;
  readonly inputSize: [number, number];
  readonly numClasses: number;
  readonly nullClass: number | null;
  calls = 0;
  constructor(
    shape: [number, number, number],
    private readonly fn: (x: tf.Tensor, t: Float32Array, y: Int32Array | null) => tf.Tensor,
    classes = 1,
    nullClass: number | null = null,
  ) {
    this.inputSize = [shape[0], shape[1]];
    this.inChannels = shape[2];
    this.numClasses = classes;
    this.nullClass = nullClass;
  }
  forward(
    x: tf.Tensor,
    t: tf.Tensor | ArrayLike<number>,
    y?: tf.Tensor | ArrayLike<number> | null,
  ): tf.Tensor4D {
    this.calls++;
    const tt = t instanceof tf.Tensor ? (t.dataSync() as Float32Array) : Float32Array.from(t);
    const yy = y == null ? null : y instanceof tf.Tensor ? (y.dataSync() as Int32Array) : Int32Array.from(y);
    return tf.tidy(() => this.fn(x, tt, yy)) as tf.Tensor4D;
  }
}

/** The pipeline tests' denoiser: LightningDiT-Nano/1 on [2, 2, 4] latents, 3 classes, width 32, seed 0. */
export function latentDiT(extra: { rope?: boolean } = {}): LightningDiT {
  return new LightningDiT(
    {
      preset: 'LightningDiT-Nano/1',
      inputSize: [2, 2],
      inChannels: 4,
      numClasses: 3,
      classDropoutProb: 0.1,
      hiddenSize: 32,
      numHeads: 2,
      ...extra,
    },
    { seed: 0 },
  );
}
