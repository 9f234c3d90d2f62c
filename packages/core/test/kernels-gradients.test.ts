/**
 * Forward values and gradients of the ops our models train through (ViT, conv autoencoder, DiT,
 * PatchGAN, LPIPS over VGG / AlexNet), on wasm (with our kernels registered) against cpu, on seeded
 * random inputs. Each case returns f(x) and d sum(f(x) * w) / dx for every input, w random.
 *
 * Not here because tfjs 4.22 fails them on every backend, cpu included: conv2d / depthwiseConv2d
 * gradients with dilations > 1; batchMatMul's gradient for an operand it broadcast (b [K, N] against
 * a [B, M, K]); the gradients of stridedSlice, of einsum, of comparisons (tf.where(tf.greater(..)));
 * cumsum's gradient unless the axis is the last one given as a non-negative index.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRng, setupBackend } from '../src/index.node.js';
import { relErr, runOn } from './wasm-vs-cpu.js';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;
type T4 = tf.Tensor4D;

/** f(x) and the gradient of sum(f(x) * w) for every input, read back as arrays. */
function valueAndGrads(backend: 'cpu' | 'wasm', shapes: number[][], f: Op, seed: number) {
  return runOn(backend, () => {
    const rng = createRng(seed);
    const xs = shapes.map((s) => rng.normal(s));
    const y = f(...xs);
    const w = rng.normal(y.shape);
    return [y, ...tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs)];
  });
}

/** tf's padding argument: 'same', 'valid', a number or [[0, 0], [top, bottom], [left, right], [0, 0]]. */
type Pad = Parameters<typeof tf.conv2d>[3];
const PAD_ONE: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];
const PAD_12_21: [number, number][] = [
  [0, 0],
  [1, 2],
  [2, 1],
  [0, 0],
];
const idx = (values: number[], shape?: number[]) => tf.tensor(values, shape ?? [values.length], 'int32');

type Case = [string, number[][], Op];
/** A conv2d case: input shape x, filter shape f. */
const conv = (name: string, x: number[], f: number[], strides: number, pad: Pad): Case => [
  name,
  [x, f],
  (a, b) => tf.conv2d(a as T4, b as T4, strides, pad),
];
/** A conv2dTranspose case from x [2, 4, 4, 4] to [2, 8, 8, 3], stride 2. */
const convT = (name: string, f: number[], pad: Pad): Case => [
  name,
  [[2, 4, 4, 4], f],
  (a, b) => tf.conv2dTranspose(a as T4, b as T4, [2, 8, 8, 3], 2, pad),
];
/** A matMul case: operand shapes a and b. */
const matMul = (name: string, a: number[], b: number[], transposeA = false, transposeB = false): Case => [
  name,
  [a, b],
  (x, y) => tf.matMul(x, y, transposeA, transposeB),
];

const CASES: Case[] = [
  // Convolutions (encoder / decoder, PatchGAN, LPIPS trunks, ViT / DiT patchify).
  conv('conv2d 1x1', [2, 6, 6, 3], [1, 1, 3, 4], 1, 'same'),
  conv('conv2d 3x3 s1 same', [2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'),
  conv('conv2d 3x3 s2 same', [2, 8, 8, 3], [3, 3, 3, 4], 2, 'same'),
  conv('conv2d 3x3 s2 valid', [2, 9, 9, 3], [3, 3, 3, 4], 2, 'valid'),
  conv('conv2d 3x3 explicit pad', [2, 6, 6, 3], [3, 3, 3, 4], 1, PAD_ONE),
  conv('conv2d 4x4 s2 explicit pad', [2, 8, 8, 3], [4, 4, 3, 4], 2, PAD_ONE),
  conv('conv2d 8x8 s8 patchify', [2, 16, 16, 3], [8, 8, 3, 6], 8, 'valid'),
  conv('conv2d 11x11 s4 (AlexNet)', [1, 19, 19, 3], [11, 11, 3, 4], 4, 2),
  convT('conv2dTranspose 4x4 s2', [4, 4, 3, 4], PAD_ONE),
  convT('conv2dTranspose 3x3 s2 same', [3, 3, 3, 4], 'same'),
  [
    'depthwiseConv2d 3x3 s1',
    [
      [2, 6, 6, 3],
      [3, 3, 3, 1],
    ],
    (x, f) => tf.depthwiseConv2d(x as T4, f as T4, 1, 'same'),
  ],
  [
    'depthwiseConv2d 3x3 s2 m2',
    [
      [2, 7, 7, 3],
      [3, 3, 3, 2],
    ],
    (x, f) => tf.depthwiseConv2d(x as T4, f as T4, 2, 'valid'),
  ],
  [
    'fused conv2d + bias + relu',
    [[2, 6, 6, 3], [3, 3, 3, 4], [4]],
    (x, f, b) =>
      tf.fused.conv2d({ x: x as T4, filter: f as T4, bias: b, activation: 'relu', strides: 1, pad: 'same' }),
  ],
  // Gathers: MAE token masking (axis 1, batchDims 1), embedding tables (axis 0).
  ['gather axis 0 (embedding)', [[10, 6]], (t) => tf.gather(t, idx([1, 2, 2, 9, 0, 1], [2, 3]))],
  ['gather axis 1', [[3, 6, 4]], (t) => tf.gather(t, idx([0, 3, 3, 5, 1]), 1)],
  ['gather batchDims 1', [[3, 6, 4]], (t) => tf.gather(t, idx([0, 3, 3, 5, 1, 1], [3, 2]), 1, 1)],
  [
    'unsortedSegmentSum',
    [[6, 3]],
    (t) => tf.unsortedSegmentSum(t, tf.tensor1d([0, 2, 2, 1, 0, 3], 'int32'), 4),
  ],
  // Matmuls: attention, MLPs.
  matMul('matMul', [5, 3], [3, 4]),
  matMul('matMul transposeA', [3, 5], [3, 4], true, false),
  matMul('matMul transposeB', [5, 3], [4, 3], false, true),
  matMul('matMul transposeA+B', [3, 5], [4, 3], true, true),
  matMul('batchMatMul rank 3', [2, 5, 3], [2, 3, 4]),
  matMul('batchMatMul rank 4 transposeB', [2, 3, 5, 6], [2, 3, 4, 6], false, true),
  ['fused matMul + bias', [[5, 3], [3, 4], [4]], (a, b, c) => tf.fused.matMul({ a, b, bias: c })],
  // Normalisation and activations.
  [
    'layer norm (moments)',
    [[4, 6, 8]],
    (x) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
    },
  ],
  [
    'batchNorm',
    [[2, 4, 4, 3], [3], [3], [3], [3]],
    (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.5), o, s, 1e-3),
  ],
  ['erf gelu', [[40]], (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))],
  ['tanh', [[40]], (x) => tf.tanh(x)],
  ['sigmoid / silu', [[40]], (x) => tf.add(tf.sigmoid(x), tf.mul(x, tf.sigmoid(x)))],
  [
    'relu / leakyRelu / elu / softplus',
    [[40]],
    (x) => tf.addN([tf.relu(x), tf.leakyRelu(x, 0.2), tf.elu(x), tf.softplus(x)]),
  ],
  ['softmax', [[4, 7]], (x) => tf.softmax(x)],
  ['logSoftmax', [[4, 7]], (x) => tf.logSoftmax(x)],
  ['logSigmoid (GAN loss)', [[40]], (x) => tf.logSigmoid(x)],
  [
    'sqrt / rsqrt / pow / exp / log',
    [[40]],
    (x) =>
      tf.addN([
        tf.sqrt(tf.abs(x)),
        tf.rsqrt(tf.add(tf.abs(x), 1)),
        tf.pow(tf.abs(x), 1.5),
        tf.log(tf.add(tf.exp(x), 1)),
      ]),
  ],
  ['sin / cos (timestep embedding)', [[40]], (x) => tf.add(tf.sin(x), tf.cos(x))],
  ['l2 normalise (LPIPS)', [[4, 5]], (x) => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-10)))],
  [
    'mean / sum / max / min',
    [[4, 5]],
    (x) => tf.addN([tf.mean(x, 0), tf.sum(x, 0), tf.max(x, 0), tf.min(x, 0)]),
  ],
  // Pooling and resizing.
  ['avgPool 2 s2', [[2, 8, 8, 3]], (x) => tf.avgPool(x as T4, 2, 2, 'valid')],
  ['avgPool 3 s1 same', [[2, 8, 8, 3]], (x) => tf.avgPool(x as T4, 3, 1, 'same')],
  ['maxPool 2 s2', [[2, 8, 8, 3]], (x) => tf.maxPool(x as T4, 2, 2, 'valid')],
  ['maxPool 3 s2 same', [[2, 9, 9, 3]], (x) => tf.maxPool(x as T4, 3, 2, 'same')],
  ['resizeBilinear x2', [[2, 5, 5, 3]], (x) => tf.image.resizeBilinear(x as T4, [10, 10])],
  ['resizeBilinear alignCorners', [[2, 5, 5, 3]], (x) => tf.image.resizeBilinear(x as T4, [9, 9], true)],
  [
    'resizeBilinear down, half-pixel',
    [[2, 8, 8, 3]],
    (x) => tf.image.resizeBilinear(x as T4, [3, 3], false, true),
  ],
  // cpu's ResizeNearestNeighborGrad is wrong for batch > 1; batch 2 is checked below by adjointness.
  [
    'resizeNearestNeighbor x2 (batch 1)',
    [[1, 5, 5, 3]],
    (x) => tf.image.resizeNearestNeighbor(x as T4, [10, 10]),
  ],
  // Shape ops.
  ['pad', [[2, 5, 5, 3]], (x) => tf.pad(x, PAD_12_21)],
  ['mirrorPad reflect', [[2, 5, 5, 3]], (x) => tf.mirrorPad(x, PAD_12_21, 'reflect')],
  ['mirrorPad symmetric', [[2, 5, 5, 3]], (x) => tf.mirrorPad(x, PAD_ONE, 'symmetric')],
  ['slice', [[4, 6, 5]], (x) => tf.slice(x, [1, 2, 0], [2, 3, -1])],
  [
    'concat',
    [
      [2, 3],
      [2, 4],
    ],
    (a, b) => tf.concat([a, b], 1),
  ],
  ['split / stack', [[4, 6]], (x) => tf.stack(tf.split(x, 3, 1).map((t, i) => tf.mul(t, i + 1)))],
  ['transpose 5-D', [[2, 3, 4, 2, 3]], (x) => tf.transpose(x, [0, 3, 1, 4, 2])],
  ['tile / broadcastTo', [[1, 3]], (x) => tf.add(tf.tile(x, [4, 1]), tf.broadcastTo(x, [4, 3]))],
  ['reverse', [[4, 5]], (x) => tf.reverse(x, [1])],
  ['clipByValue', [[40]], (x) => tf.clipByValue(x, -0.5, 0.5)],
  ['cumsum (last axis)', [[4, 6]], (x) => tf.cumsum(x, 1)],
  [
    'maximum / minimum / squaredDifference',
    [[40], [40]],
    (a, b) => tf.addN([tf.maximum(a, b), tf.minimum(a, b), tf.squaredDifference(a, b)]),
  ],
];

describe('wasm forward values and gradients match cpu', () => {
  it.each(CASES.map(([name, shapes, f], i) => [name, shapes, f, i] as const))(
    '%s',
    async (_name, shapes, f, i) => {
      const cpu = await valueAndGrads('cpu', shapes, f, 100 + i);
      const wasm = await valueAndGrads('wasm', shapes, f, 100 + i);
      expect(wasm.shapes).toEqual(cpu.shapes);
      for (const [j, ref] of cpu.values.entries()) {
        expect(relErr(wasm.values[j], ref), `output ${j}`).toBeLessThan(1e-4);
      }
    },
  );
});

describe('linear ops on wasm are adjoint to their gradients', () => {
  it.each([
    [
      'resizeNearestNeighbor x2, batch 2',
      [2, 5, 5, 3],
      (x: tf.Tensor) => tf.image.resizeNearestNeighbor(x as T4, [10, 10]),
    ],
    [
      'resizeNearestNeighbor down, batch 2',
      [2, 6, 6, 2],
      (x: tf.Tensor) => tf.image.resizeNearestNeighbor(x as T4, [3, 4]),
    ],
  ] as const)('%s', async (_name, shape, f) => {
    await setupBackend({ backend: 'wasm' });
    const [lhs, rhs, scale] = tf.tidy(() => {
      const rng = createRng(7);
      const x = rng.normal([...shape]);
      const y = f(x);
      const w = rng.normal(y.shape);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), w)))(x);
      return [tf.sum(tf.mul(y, w)), tf.sum(tf.mul(x, g)), tf.mul(tf.norm(y), tf.norm(w))].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(Math.abs(lhs - rhs) / scale).toBeLessThan(1e-6);
  });
});
