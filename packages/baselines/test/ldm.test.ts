/**
 * Every baseline swaps into the latent diffusion model of @ldmae/diffusion: latents from its posterior,
 * normalised with statistics of sampled latents, train a tiny LightningDiT, and LatentDiffusion
 * samples images through the baseline's decoder.
 */
import {
  computeLatentNormalization,
  createRng,
  denormalizeLatents,
  normalizeLatents,
  setupBackend,
} from '@ldmae/core';
import { DataLoader, mnist, SubsetDataset, toRgb } from '@ldmae/data';
import { DiffusionTrainer, LatentDiffusion, LightningDiT } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASELINE_KINDS, createBaseline } from '../src/index.js';

let images: tf.Tensor4D;
let labels: tf.Tensor1D;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  const ds = await mnist();
  const sub = new SubsetDataset(
    ds,
    Array.from({ length: 16 }, (_, i) => i * 625),
  );
  const batch = await new DataLoader(sub, { batchSize: 16, shuffle: false, transform: toRgb() }).next();
  images = batch.images;
  labels = batch.labels!;
});

afterAll(() => tf.dispose([images, labels]));

describe.each(BASELINE_KINDS)('%s', (kind) => {
  it('satisfies the Autoencoder contract end to end: encode, sample, normalise, denormalise, decode', () => {
    const ae = createBaseline(kind, { preset: 'f4d4-micro', seed: 3 });
    const before = tf.memory().numTensors;
    const post = ae.encode(images);
    const z = post.sample(createRng(1)) as tf.Tensor4D;
    expect(z.shape).toEqual([16, ...ae.latentShape([28, 28, 3])]);
    const norm = computeLatentNormalization(z);
    ae.latentNormalization = norm;
    const n = normalizeLatents(z, norm);
    const { mean, variance } = tf.moments(n, [0, 1, 2]);
    for (const m of mean.dataSync()) expect(Math.abs(m)).toBeLessThan(1e-4);
    for (const v of variance.dataSync()) expect(v).toBeCloseTo(1, 3);
    const back = denormalizeLatents(n, norm);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(back, z))).dataSync()[0])).toBeLessThan(1e-4);
    const y = ae.decode(back as tf.Tensor4D);
    expect(y.shape).toEqual([16, 28, 28, 3]);
    tf.dispose([z, n, mean, variance, back, y]);
    post.dispose();
    expect(tf.memory().numTensors).toBe(before);
    ae.dispose();
  });

  it('trains a tiny LightningDiT on its latents and samples images with LatentDiffusion', async () => {
    const ae = createBaseline(kind, { preset: 'f4d4-micro', seed: 3 });
    const rng = createRng(2);
    const stats = tf.tidy(() => {
      const post = ae.encode(images);
      const z = post.sample(rng);
      post.dispose();
      return z as tf.Tensor4D;
    });
    ae.latentNormalization = computeLatentNormalization(stats);
    stats.dispose();
    const [h, w, c] = ae.latentShape([28, 28, 3]);
    const dit = new LightningDiT(
      {
        preset: 'LightningDiT-Nano/1',
        inputSize: [h, w],
        inChannels: c,
        numClasses: 10,
        classDropoutProb: 0,
      },
      { seed: 4 },
    );
    const trainer = new DiffusionTrainer({ denoiser: dit, lr: 1e-3, ema: false, seed: 5 });
    // A fresh posterior sample every step, as the reference's latent loader draws.
    const data = () =>
      tf.tidy(() => {
        const post = ae.encode(images);
        const z = post.sample(rng);
        post.dispose();
        return { latents: normalizeLatents(z, ae.latentNormalization!), labels: tf.clone(labels) };
      });
    const res = await trainer.train({ data, steps: 4 });
    expect(res.step).toBe(4);
    expect(res.losses.every(Number.isFinite)).toBe(true);
    dit.eval();
    const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: dit });
    const before = tf.memory().numTensors;
    const samples = await ldm.sample({ n: 2, classes: [3, 7], steps: 3, seed: 6 });
    expect(samples.shape).toEqual([2, 28, 28, 3]);
    const v = samples.dataSync();
    expect(v.every((p) => p >= -1 && p <= 1 && Number.isFinite(p))).toBe(true);
    samples.dispose();
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    dit.dispose();
    ae.dispose();
  });
});
