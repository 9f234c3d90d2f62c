import { createRng, setupBackend } from '@ldmae/core';
import { DataLoader, mnist, toRgb } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { createVMAE, trainVMAE, type VMAE } from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

function reconstructionMse(model: VMAE, x: tf.Tensor4D): number {
  return tf.tidy(() => {
    const r = model.reconstruct(x);
    return tf.mean(tf.square(tf.sub(r, x))).dataSync()[0];
  });
}

it('a seeded stage-1 run of f4d4-tiny on MNIST cuts reconstruction MSE at least 5x in 300 steps', async () => {
  const digits = await mnist();
  // 28 px digits directly: patch 4 gives a 7 x 7 grid (49 tokens, 36 kept at mask ratio 0.25).
  const model = createVMAE('f4d4-tiny', { imgSize: 28 }, { rng: createRng(0) });
  const held = new DataLoader(digits, { batchSize: 64, seed: 99, transform: toRgb() });
  const { images: evalBatch, labels } = await held.next();
  labels?.dispose();
  await held.close();
  const loader = new DataLoader(digits, { batchSize: 8, seed: 1, transform: toRgb(), dropLast: true });
  const before = reconstructionMse(model, evalBatch);
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const result = await trainVMAE({ model, data: loader, steps: 300, batchSize: 8, lr: 2e-3, seed: 7 });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await loader.close();
  expect(tf.memory().numTensors).toBe(tensors);
  const after = reconstructionMse(model, evalBatch);
  console.log(
    `MNIST f4d4-tiny@28, batch 8: reconstruction MSE ${before.toFixed(4)} -> ${after.toFixed(4)} ` +
      `(${(before / after).toFixed(1)}x) in ${seconds.toFixed(1)} s, ${cpuSeconds.toFixed(1)} s of CPU (${((8 * 300) / seconds).toFixed(0)} images/s); ` +
      `last loss ${result.losses.at(-1)?.toFixed(4)}`,
  );
  expect(result.step).toBe(300);
  expect(result.recipe.warmupSteps).toBe(8); // round(300 * 10 / 400)
  expect(before / after).toBeGreaterThanOrEqual(5);
  evalBatch.dispose();
  model.dispose();
});
