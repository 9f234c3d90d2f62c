/**
 * A seeded tiny LightningDiT learns a toy latent data set: 2-D points (latents of shape [1, 1, 2]) from
 * a mixture of four Gaussians on a 2 x 2 grid, labelled by their mode. Training must bring the loss
 * well below its start (asserted: the mean of the last 50 steps under 0.4x the first 10), and samples
 * must land near the modes (asserted: 90% of class-conditional samples within 0.3 of their own mode, 60% of
 * unconditional ones within 0.3 of some mode; the modes are 2 apart).
 */
import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { DiffusionTrainer, FlowEulerScheduler, LightningDiT, sampleLoop } from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const MODES = [
  [-1, -1],
  [-1, 1],
  [1, -1],
  [1, 1],
];
const STD = 0.05;
const BATCH = 128;
const STEPS = 300;

/** Batch `step`: a function of the step, so the run is reproducible. */
function batch(step: number) {
  const rng = createRng(1000 + step);
  const labels = Int32Array.from({ length: BATCH }, () => rng.nextInt(4));
  const pts = new Float32Array(BATCH * 2);
  labels.forEach((k, i) => {
    pts[2 * i] = MODES[k][0] + STD * rng.nextNormal();
    pts[2 * i + 1] = MODES[k][1] + STD * rng.nextNormal();
  });
  return { latents: tf.tensor4d(pts, [BATCH, 1, 1, 2]), labels: tf.tensor1d(labels, 'int32') };
}

it('a tiny LightningDiT learns a 2-D mixture of Gaussians; its samples land on the modes', async () => {
  // Nano with one block (the test's time goes into per-op overhead, not arithmetic). One token:
  // RoPE would rotate by angle 0, so it is left out.
  const model = new LightningDiT(
    { preset: 'LightningDiT-Nano/1', depth: 1, inputSize: 1, inChannels: 2, numClasses: 4, rope: false },
    { seed: 1 },
  );
  // A larger null-class share than the paper's 0.1, so the unconditional model also trains in 300 steps.
  const trainer = new DiffusionTrainer({ denoiser: model, lr: 3e-3, ema: false, seed: 2, labelDropout: 0.3 });
  const t0 = performance.now();
  const res = await trainer.train({ data: batch, steps: STEPS });
  const seconds = (performance.now() - t0) / 1000;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const first = mean(res.losses.slice(0, 10));
  const last = mean(res.losses.slice(-50));
  console.log(
    `toy: ${STEPS} steps in ${seconds.toFixed(1)} s, loss ${first.toFixed(3)} -> ${last.toFixed(3)}`,
  );
  expect(res.step).toBe(STEPS);
  expect(last).toBeLessThan(0.4 * first);

  model.eval();
  const n = 64;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  const noise = createRng(3).normal([n, 1, 1, 2]);
  const before = tf.memory().numTensors;
  const samples = await sampleLoop({
    denoiser: model,
    scheduler: new FlowEulerScheduler(),
    noise,
    steps: 20,
    labels,
  });
  const uncond = await sampleLoop({
    denoiser: model,
    scheduler: new FlowEulerScheduler(),
    noise,
    steps: 20,
    labels: new Int32Array(n).fill(4),
  });
  const s = samples.dataSync();
  const u = uncond.dataSync();
  tf.dispose([samples, uncond]);
  expect(tf.memory().numTensors).toBe(before);
  const dist = (p: ArrayLike<number>, i: number, k: number) =>
    Math.hypot(p[2 * i] - MODES[k][0], p[2 * i + 1] - MODES[k][1]);
  let onOwnMode = 0;
  let onSomeMode = 0;
  for (let i = 0; i < n; i++) {
    if (dist(s, i, labels[i]) < 0.3) onOwnMode++;
    if (Math.min(...MODES.map((_, k) => dist(u, i, k))) < 0.3) onSomeMode++;
  }
  console.log(
    `toy: ${onOwnMode}/${n} conditional samples on their mode, ${onSomeMode}/${n} unconditional on a mode`,
  );
  expect(onOwnMode).toBeGreaterThanOrEqual(0.9 * n);
  expect(onSomeMode).toBeGreaterThanOrEqual(0.6 * n);
  noise.dispose();
  trainer.dispose();
  model.dispose();
});
