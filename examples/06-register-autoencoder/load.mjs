// A fresh process: loadAutoencoder reads the kind the file declares once that kind is registered.
import { readFileSync } from 'node:fs';
import { loadAutoencoder, setupBackend } from '@ldmae/core';
import { mnist } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { check, testBatch } from './shared.mjs';

await setupBackend({ backend: 'wasm' });

// Before the kind is registered, the loader says what the file is and what is missing.
try {
  await loadAutoencoder('out/patch-ae');
  check(false, 'an unregistered kind is refused');
} catch (e) {
  const msg = /** @type {Error} */ (e).message;
  console.log(`without the kind: ${msg}`);
  check(msg.includes("format 'example-patch-ae'"), 'the error names the format');
}

await import('./patch-autoencoder.mjs'); // registers the kind
const { model, format, description } = await loadAutoencoder('out/patch-ae');
console.log(`loaded '${model.name}' (format ${format}: ${description})`);
const images = await testBatch(await mnist());
const posterior = model.encode(images);
const recon = model.decode(/** @type {tf.Tensor4D} */ (posterior.mean));
const before = new Float32Array(readFileSync('out/recon-before.f32').buffer.slice(0));
const after = await recon.data();
let worst = 0;
for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - before[i]));
console.log(`max |loaded - saved| reconstruction difference over ${after.length} values: ${worst}`);
check(worst === 0, 'the loaded autoencoder reconstructs exactly as the saved one');
check(model.latentNormalization !== null, 'the latent normalisation was saved with it');
tf.dispose([images, recon]);
posterior.dispose();
model.dispose();
console.log('OK');
