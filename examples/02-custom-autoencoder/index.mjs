// Train a user-written autoencoder, then a tiny LightningDiT on its latents, and sample digits.
import { mkdirSync } from 'node:fs';
import {
  AdamW,
  computeLatentNormalization,
  createRng,
  normalizeLatents,
  setupBackend,
  train,
} from '@ldmae/core';
import { DataLoader, mnist, saveGrid, toRgb } from '@ldmae/data';
import { DiffusionTrainer, FlowEulerScheduler, LatentDiffusion, LightningDiT } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { ConvAutoencoder } from './conv-autoencoder.mjs';

/** @param {boolean} ok @param {string} what */
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}
/** @param {number[]} xs */
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(`backend: ${await setupBackend({ backend: 'wasm' })}`);
mkdirSync('out', { recursive: true });
const digits = await mnist();

// 1. The autoencoder: plain MSE reconstruction with core's train loop.
const ae = new ConvAutoencoder({ latentChannels: 4, width: 32, seed: 0 });
const loader = new DataLoader(digits, { batchSize: 32, seed: 1, transform: toRgb(), dropLast: true });
let t0 = performance.now();
const aeRun = await train({
  model: ae,
  optimizer: AdamW.forModule(ae, { lr: 3e-3, weightDecay: 0 }),
  steps: 150,
  data: () => loader.next(),
  lossFn: (/** @type {{ images: tf.Tensor4D }} */ batch) =>
    /** @type {tf.Scalar} */ (
      tf.losses.meanSquaredError(batch.images, ae.decode(ae.encodeMean(batch.images)))
    ),
});
const aeFirst = mean(aeRun.losses.slice(0, 10));
const aeLast = mean(aeRun.losses.slice(-10));
console.log(
  `autoencoder: ${aeRun.step} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
    `MSE ${aeFirst.toFixed(4)} -> ${aeLast.toFixed(4)} (mean of the first / last 10 steps)`,
);
check(aeRun.losses.every(Number.isFinite), 'autoencoder losses are finite');
check(aeLast < 0.5 * aeFirst, 'the autoencoder loss fell by at least half');

// 2. Latents of 1024 digits (posterior means) and the per-channel normalisation the LDM uses.
const encoded = new DataLoader(digits, { batchSize: 256, seed: 2, transform: toRgb(), dropLast: true });
/** @type {tf.Tensor[]} */ const zs = [];
/** @type {tf.Tensor[]} */ const ys = [];
for (let i = 0; i < 4; i++) {
  const { images, labels } = await encoded.next();
  const posterior = ae.encode(/** @type {tf.Tensor4D} */ (images));
  zs.push(posterior.mode());
  ys.push(/** @type {tf.Tensor} */ (labels));
  posterior.dispose();
  images.dispose();
}
const rawLatents = /** @type {tf.Tensor4D} */ (tf.concat(zs));
const labels = tf.cast(tf.concat(ys), 'int32');
tf.dispose([...zs, ...ys]);
ae.latentNormalization = computeLatentNormalization(rawLatents);
const latents = normalizeLatents(rawLatents, ae.latentNormalization);
rawLatents.dispose();
const [h, w, c] = ae.latentShape([28, 28, 3]);
console.log(
  `latents [${latents.shape}], normalisation scale [${ae.latentNormalization.scale.map((s) => s.toFixed(2))}]`,
);
check(tf.util.arraysEqual(latents.shape, [1024, h, w, c]), `latents [1024, ${h}, ${w}, ${c}]`);

// 3. A tiny class-conditional LightningDiT on the normalised latents with the library's trainer.
const dit = new LightningDiT({ preset: 'LightningDiT-Nano/1', inputSize: h, inChannels: c, numClasses: 10 });
const trainer = new DiffusionTrainer({ denoiser: dit, lr: 2e-3, ema: false });
const pick = createRng(3);
const batchSize = 32;
t0 = performance.now();
const ditRun = await trainer.train({
  steps: 80,
  // A fresh random batch per step (the trainer disposes each batch after its step).
  data: () => {
    const idx = tf.tensor1d(
      Int32Array.from({ length: batchSize }, () => pick.nextInt(1024)),
      'int32',
    );
    const batch = { latents: tf.gather(latents, idx), labels: tf.gather(labels, idx) };
    idx.dispose();
    return batch;
  },
});
const ditFirst = mean(ditRun.losses.slice(0, 10));
const ditLast = mean(ditRun.losses.slice(-10));
console.log(
  `LightningDiT-Nano/1: ${ditRun.step} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
    `flow loss ${ditFirst.toFixed(3)} -> ${ditLast.toFixed(3)}`,
);
check(ditRun.losses.every(Number.isFinite), 'diffusion losses are finite');
check(ditLast < ditFirst, 'the diffusion loss fell');

// 4. The custom autoencoder in the latent diffusion pipeline: two samples of each class.
dit.eval();
const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: dit, scheduler: new FlowEulerScheduler() });
const classes = Array.from({ length: 20 }, (_, i) => i % 10);
t0 = performance.now();
const samples = await ldm.sample({ n: 20, classes, steps: 20, cfg: 2, seed: 0 });
console.log(
  `sampled [${samples.shape}] in ${((performance.now() - t0) / 1000).toFixed(1)} s (20 Euler steps, cfg 2)`,
);
check(tf.util.arraysEqual(samples.shape, [20, 28, 28, 3]), `samples [20, 28, 28, 3], got [${samples.shape}]`);
const values = samples.dataSync();
check(
  values.every((v) => Number.isFinite(v)),
  'sample values are finite',
);
await saveGrid(samples, 'out/samples.png', { nrow: 10 });
console.log('wrote out/samples.png (classes 0-9, twice)');

tf.dispose([samples, latents, labels]);
trainer.dispose();
dit.dispose();
ae.dispose();
console.log('OK');
