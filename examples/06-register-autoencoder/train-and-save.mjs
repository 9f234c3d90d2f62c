// Train the PatchAutoencoder a little on MNIST and save it with core's saveAutoencoder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { AdamW, computeLatentNormalization, saveAutoencoder, setupBackend, train } from '@ldmae/core';
import { DataLoader, mnist, toRgb } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { PatchAutoencoder } from './patch-autoencoder.mjs';
import { check, testBatch } from './shared.mjs';

await setupBackend({ backend: 'wasm' });
mkdirSync('out', { recursive: true });
const digits = await mnist();
const ae = new PatchAutoencoder({ latentChannels: 8, seed: 0 });
const loader = new DataLoader(digits, { batchSize: 32, seed: 1, transform: toRgb(), dropLast: true });
const run = await train({
  model: ae,
  optimizer: AdamW.forModule(ae, { lr: 1e-2, weightDecay: 0 }),
  steps: 100,
  data: () => loader.next(),
  lossFn: (/** @type {{ images: tf.Tensor4D }} */ b) => {
    const posterior = ae.encode(b.images);
    const loss = /** @type {tf.Scalar} */ (
      tf.losses.meanSquaredError(b.images, ae.decode(/** @type {tf.Tensor4D} */ (posterior.mean)))
    );
    return loss;
  },
});
const [first, last] = [run.losses[0], run.losses.at(-1) ?? Number.NaN];
console.log(`trained ${run.step} steps: MSE ${first.toFixed(4)} -> ${last.toFixed(4)}`);
check(last < 0.5 * first, 'the reconstruction loss fell by at least half');

const images = await testBatch(digits);
const posterior = ae.encode(images);
ae.latentNormalization = computeLatentNormalization(/** @type {tf.Tensor4D} */ (posterior.mean));
const recon = ae.decode(/** @type {tf.Tensor4D} */ (posterior.mean));
writeFileSync('out/recon-before.f32', new Uint8Array((await recon.data()).buffer));
await saveAutoencoder('out/patch-ae', ae);
console.log('saved out/patch-ae (meta.json + weights) and the reconstructions of 16 test digits');
tf.dispose([images, recon]);
posterior.dispose();
ae.dispose();
