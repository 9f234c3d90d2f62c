import { createRng } from '@ldmae/core';
import { DataLoader, mnist, SubsetDataset, toRgb } from '@ldmae/data';
import { Lpips, TorchvisionTrunk } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import {
  type BaselineKind,
  createBaseline,
  createObjective,
  type ObjectiveOptions,
  trainBaseline,
} from '../src/index.js';

/**
 * A two-tap random conv trunk for LPIPS: the real VGG16 weights cannot be had offline, and tests need
 * only a differentiable perceptual term of the right form.
 */
export function tinyLpips(seed = 5): Lpips {
  const trunk = new TorchvisionTrunk(
    'tiny-test-trunk',
    [
      { index: 0, kind: 'conv', in: 3, out: 8, kernel: 3, stride: 1, padding: 1 },
      { index: 1, kind: 'relu' },
      { index: 2, kind: 'maxpool', kernel: 2, stride: 2 },
      { index: 3, kind: 'conv', in: 8, out: 16, kernel: 3, stride: 1, padding: 1 },
      { index: 4, kind: 'relu' },
    ],
    [1, 4],
    { rng: createRng(seed) },
  );
  return new Lpips(trunk, { lin: 'uniform' });
}

/** max |a - b| / max(1, max |b|). */
export function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1, tf.max(tf.abs(b)).dataSync()[0]),
  );
}

/**
 * A seeded tiny run of 40 steps on real MNIST digits (the `mnist` package, 28 x 28 grey as RGB, in
 * [-1, 1]): the f4d4-micro model, batches of 8 from 512 digits of every class, AdamW lr 2e-3 without
 * weight decay. Checks that the MSE of the mode reconstruction of a fixed batch of 32 digits falls at
 * least 3x, that every loss is finite and that tf.memory().numTensors is the same after every step
 * but the first (nothing accumulates, across the SD-VAE discriminator's start too).
 */
export async function expectMnistRunLearns(
  kind: BaselineKind,
  objectiveOptions: ObjectiveOptions = {},
): Promise<void> {
  const steps = 40;
  const ds = await mnist();
  const sub = new SubsetDataset(
    ds,
    Array.from({ length: 512 }, (_, i) => Math.floor((i * ds.length) / 512)),
  );
  const ae = createBaseline(kind, { preset: 'f4d4-micro', seed: 1 });
  const evalBatch = await new DataLoader(sub, { batchSize: 32, seed: 9, transform: toRgb() }).next();
  const mse = () =>
    tf.tidy(
      () => tf.mean(tf.square(tf.sub(ae.reconstruct(evalBatch.images), evalBatch.images))).dataSync()[0],
    );
  const before = mse();
  const objective = createObjective(kind, ae, { seed: 2, ...objectiveOptions });
  const loader = new DataLoader(sub, { batchSize: 8, seed: 3, transform: toRgb() });
  const tensorsPerStep: number[] = [];
  const t0 = performance.now();
  const r = await trainBaseline({
    objective,
    data: () => loader.next(),
    steps,
    lr: 2e-3,
    weightDecay: 0,
    onProgress: () => tensorsPerStep.push(tf.memory().numTensors),
  });
  const seconds = (performance.now() - t0) / 1000;
  const after = mse();
  r.optimizer.dispose();
  objective.dispose();
  ae.dispose();
  tf.dispose([evalBatch.images, ...(evalBatch.labels ? [evalBatch.labels] : [])]);
  await loader.close();
  console.log(
    `${kind}: MSE ${before.toFixed(4)} -> ${after.toFixed(4)} (${(before / after).toFixed(1)}x) in ${steps} steps, ${seconds.toFixed(1)} s`,
  );
  expect(before / after).toBeGreaterThanOrEqual(3);
  expect(r.losses.every(Number.isFinite)).toBe(true);
  expect(new Set(tensorsPerStep.slice(1)).size).toBe(1);
}
