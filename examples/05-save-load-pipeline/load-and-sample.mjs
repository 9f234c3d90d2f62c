// A fresh process: load the saved pipeline in one call and sample the same images from the same seed.
import { readFileSync } from 'node:fs';
import { setupBackend } from '@ldmae/core';
import { saveGrid } from '@ldmae/data';
import { LatentDiffusion } from '@ldmae/diffusion';
import '@ldmae/vmae'; // registers the VMAE kind, so the pipeline's autoencoder loads
import { check, SAMPLE } from './shared.mjs';

await setupBackend({ backend: 'wasm' });
const pipe = await LatentDiffusion.load('out/mnist-pipeline');
console.log(
  `loaded: ${pipe.autoencoder.name} + denoiser for ${pipe.denoiser.numClasses} classes, predicts ${pipe.prediction}, scheduler ${JSON.stringify(pipe.scheduler.toJSON())}`,
);
const samples = await pipe.sample(SAMPLE);
const before = new Float32Array(readFileSync('out/samples-before.f32').buffer.slice(0));
const after = await samples.data();
check(after.length === before.length, `${before.length} values`);
let worst = 0;
for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - before[i]));
console.log(`max |loaded - saved| over ${after.length} values: ${worst}`);
check(worst === 0, 'the loaded pipeline samples exactly the images of the saved one');
await saveGrid(samples, 'out/samples.png', { nrow: 10 });
console.log('wrote out/samples.png');
samples.dispose();
pipe.dispose();
console.log('OK');
