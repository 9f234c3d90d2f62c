// Encode / decode MNIST digits with a VMAE loaded from a checkpoint (Node, wasm backend).
import { mkdirSync } from 'node:fs';
import { createRng, setupBackend } from '@ldmae/core';
import { DataLoader, mnist, saveGrid, toRgb } from '@ldmae/data';
import { createVMAE, loadVMAE, saveVMAE, trainVMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';

/** @param {boolean} ok @param {string} what */
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/**
 * PSNR of images in [-1, 1] (peak-to-peak 2), over the whole batch.
 * @param {tf.Tensor} a @param {tf.Tensor} b
 */
function psnr(a, b) {
  const mse = tf.tidy(() => tf.mean(tf.squaredDifference(tf.clipByValue(a, -1, 1), b)).dataSync()[0]);
  return 10 * Math.log10(4 / mse);
}

const backend = await setupBackend({ backend: 'wasm' });
console.log(`backend: ${backend}`);
mkdirSync('out', { recursive: true });

// 1. Make a checkpoint: the tiny preset at 28 px (7 x 7 tokens of 4 x 4 pixels), a few stage-1 steps.
const digits = await mnist();
const loader = new DataLoader(digits, { batchSize: 8, seed: 1, transform: toRgb(), dropLast: true });
const model = createVMAE('f4d4-tiny', { imgSize: 28 });
const t0 = performance.now();
const run = await trainVMAE({ model, data: loader, steps: 150, batchSize: 8, lr: 2e-3 });
const first = run.losses[0];
const last = run.losses.at(-1) ?? Number.NaN;
console.log(
  `trained ${run.step} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`,
);
check(run.losses.every(Number.isFinite), 'training losses are finite');
await saveVMAE('out/vmae-mnist.safetensors', model);

// 2. Load it back and encode / decode a batch of held-out digits.
const vmae = await loadVMAE('out/vmae-mnist.safetensors');
const test = new DataLoader(digits, { batchSize: 16, seed: 99, transform: toRgb() });
const { images, labels } = await test.next();
labels?.dispose();

const posterior = vmae.encode(/** @type {tf.Tensor4D} */ (images));
const z = posterior.mode(); // the posterior mean; posterior.sample(rng) draws z = mean + std * eps
const recon = vmae.decode(/** @type {tf.Tensor4D} */ (z));
const zSample = posterior.sample(createRng(0));
const reconSample = vmae.decode(/** @type {tf.Tensor4D} */ (zSample));

console.log(`images  [${images.shape}]`);
console.log(`latents [${z.shape}] (mean), logvar [${posterior.logvar.shape}]`);
console.log(`decoded [${recon.shape}]`);
check(tf.util.arraysEqual(z.shape, [16, 7, 7, 4]), `latent shape [16, 7, 7, 4], got [${z.shape}]`);
check(
  tf.util.arraysEqual(recon.shape, images.shape),
  `decoded shape [${images.shape}], got [${recon.shape}]`,
);
check(
  tf.util.arraysEqual(vmae.latentShape([28, 28, 3]), [7, 7, 4]),
  `latentShape([28, 28, 3]) = [7, 7, 4], got [${vmae.latentShape([28, 28, 3])}]`,
);

// The loaded model is the saved one: same reconstruction as the trained model in memory.
const reconOriginal = model.reconstruct(/** @type {tf.Tensor4D} */ (images));
const maxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(reconOriginal, recon))).dataSync()[0]);
console.log(`max |loaded - original| reconstruction difference: ${maxDiff.toExponential(2)}`);
check(maxDiff < 1e-4, 'the loaded checkpoint reproduces the trained model');

const psnrMean = psnr(recon, images);
const psnrSample = psnr(reconSample, images);
// An untrained model of the same preset, for comparison.
const untrained = createVMAE('f4d4-tiny', { imgSize: 28 }, { rng: createRng(7) });
const reconUntrained = untrained.reconstruct(/** @type {tf.Tensor4D} */ (images));
const psnrUntrained = psnr(reconUntrained, images);
console.log(
  `PSNR: ${psnrMean.toFixed(2)} dB (posterior mean), ${psnrSample.toFixed(2)} dB (posterior sample), ` +
    `${psnrUntrained.toFixed(2)} dB (untrained model)`,
);
check([psnrMean, psnrSample, psnrUntrained].every(Number.isFinite), 'PSNR values are finite');
check(psnrMean > psnrUntrained, 'training improved the reconstruction PSNR');

// Originals (top two rows) and reconstructions (bottom two rows) in one grid.
const both = tf.concat([images, tf.clipByValue(recon, -1, 1)]);
await saveGrid(/** @type {tf.Tensor4D} */ (both), 'out/reconstructions.png', { nrow: 8 });
console.log('wrote out/reconstructions.png');

tf.dispose([images, z, recon, zSample, reconSample, reconOriginal, reconUntrained, both]);
posterior.dispose();
model.dispose();
vmae.dispose();
untrained.dispose();
console.log('OK');
