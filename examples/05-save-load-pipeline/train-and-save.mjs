// Train a tiny latent diffusion pipeline on MNIST (VMAE + LightningDiT) and save it as one folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { computeLatentNormalization, createRng, normalizeLatents, setupBackend } from '@ldmae/core';
import { DataLoader, mnist, toRgb } from '@ldmae/data';
import { DiffusionTrainer, FlowEulerScheduler, LatentDiffusion, LightningDiT } from '@ldmae/diffusion';
import { createVMAE, trainVMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { check, SAMPLE } from './shared.mjs';

console.log(`backend: ${await setupBackend({ backend: 'wasm' })}`);
mkdirSync('out', { recursive: true });
const digits = await mnist();

// 1. A tiny VMAE at 28 px: 7 x 7 x 4 latents.
const vmae = createVMAE('f4d4-tiny', { imgSize: 28 });
const loader = new DataLoader(digits, { batchSize: 16, seed: 1, transform: toRgb(), dropLast: true });
const aeRun = await trainVMAE({ model: vmae, data: loader, steps: 60, batchSize: 16, lr: 2e-3 });
console.log(
  `VMAE: ${aeRun.step} steps, loss ${aeRun.losses[0].toFixed(3)} -> ${aeRun.losses.at(-1)?.toFixed(3)}`,
);

// 2. Latents of 512 digits, their normalisation, and a LightningDiT trained on them with an EMA.
const enc = new DataLoader(digits, { batchSize: 128, seed: 2, transform: toRgb(), dropLast: true });
/** @type {tf.Tensor[]} */ const zs = [];
/** @type {tf.Tensor[]} */ const ys = [];
for (let i = 0; i < 4; i++) {
  const { images, labels } = await enc.next();
  const posterior = vmae.encode(/** @type {tf.Tensor4D} */ (images));
  zs.push(posterior.mode());
  ys.push(/** @type {tf.Tensor} */ (labels));
  posterior.dispose();
  images.dispose();
}
const raw = /** @type {tf.Tensor4D} */ (tf.concat(zs));
const labels = tf.cast(tf.concat(ys), 'int32');
tf.dispose([...zs, ...ys]);
const normalization = computeLatentNormalization(raw);
const latents = normalizeLatents(raw, normalization);
raw.dispose();
const [h, , c] = vmae.latentShape([28, 28, 3]);
const dit = new LightningDiT({ preset: 'LightningDiT-Nano/1', inputSize: h, inChannels: c, numClasses: 10 });
const trainer = new DiffusionTrainer({ denoiser: dit, lr: 2e-3, ema: 0.99, emaWarmup: true });
const pick = createRng(3);
const ldmRun = await trainer.train({
  steps: 60,
  data: () => {
    const idx = tf.tensor1d(
      Int32Array.from({ length: 32 }, () => pick.nextInt(512)),
      'int32',
    );
    const batch = { latents: tf.gather(latents, idx), labels: tf.gather(labels, idx) };
    idx.dispose();
    return batch;
  },
});
console.log(
  `LightningDiT: ${ldmRun.step} steps, loss ${ldmRun.losses[0].toFixed(3)} -> ${ldmRun.losses.at(-1)?.toFixed(3)}`,
);
check(ldmRun.losses.every(Number.isFinite), 'losses are finite');

// 3. The pipeline, saved as one folder with the EMA weights beside the trained ones.
const pipe = new LatentDiffusion({
  autoencoder: vmae,
  denoiser: dit,
  normalization,
  scheduler: new FlowEulerScheduler({ shift: 0.3 }),
});
const ema = trainer.ema ?? undefined;
await pipe.save('out/mnist-pipeline', {
  ema,
  imageShape: [28, 28, 3],
  classes: Array.from({ length: 10 }, (_, i) => String(i)),
  training: { data: 'MNIST (embedded)', 'VMAE steps': aeRun.step, 'LightningDiT steps': ldmRun.step },
});
console.log('saved out/mnist-pipeline (pipeline.json, autoencoder, denoiser, README.md)');

// 4. Samples with the EMA weights (what the loaded pipeline uses by default), kept for the other process.
ema?.store();
ema?.copyTo();
const samples = await pipe.sample(SAMPLE);
ema?.restore();
writeFileSync('out/samples-before.f32', new Uint8Array((await samples.data()).buffer));
console.log(`sampled [${samples.shape}] with seed ${SAMPLE.seed}; wrote out/samples-before.f32`);

tf.dispose([samples, latents, labels]);
trainer.dispose();
pipe.dispose();
