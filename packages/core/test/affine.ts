/** The optimiser tests' toy layer: y = x W + b, W stored [in, out] ('linear' layout: PyTorch [out, in]). */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../src/index.node.js';

export class Affine extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(w: number[][], b: number[]) {
    super();
    this.weight = this.registerParameter('weight', tf.tensor2d(w), { layout: 'linear' });
    this.bias = this.registerParameter('bias', tf.tensor1d(b));
  }
}
