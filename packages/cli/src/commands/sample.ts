/** `ldmae sample`: a grid of samples, one row per class, from a trained latent diffusion model. */
import { join } from 'node:path';
import { writeTensorFile } from '@ldmae/core';
import { quantizeToUint8 } from '@ldmae/metrics';
import { defineCommand } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { writeGrid } from '../steps/images.js';
import { makePipeline, sampleClassGrid } from '../steps/sample.js';
import { ldmSpec, outSpec, recordedAeSpec, samplingSpecs, seedSpec, weightsSpec } from './shared.js';
import { withDiffusionModel } from './start.js';

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: 'sample images from a trained latent diffusion model (a grid per class)',
  details: `Writes into --out: samples.png (row k: --per-class samples of class k), samples.npz (images as
uint8 [n, H, W, 3] and labels) and config.json. The autoencoder defaults to the one that encoded the
diffusion model's latent cache.

Example: ldmae sample --ldm runs/ldm/pipeline --cfg 3 --out runs/samples`,
  specs: [
    ldmSpec,
    weightsSpec,
    recordedAeSpec,
    {
      key: 'perClass',
      type: 'int',
      description: 'samples per class (one grid row per class)',
      default: 10,
      min: 1,
    },
    ...samplingSpecs,
    { key: 'batchSize', type: 'int', description: 'images per denoiser batch', default: 50, min: 1 },
    seedSpec,
    outSpec('samples'),
  ],
  run: (o, ctx) =>
    withDiffusionModel(o, ctx.reporter, async ({ ldm, ae, aePath }) => {
      const outDir = o.out;
      await writeResolvedConfig(outDir, 'sample', { ...o, ae: aePath }, { runtime: ctx.runtime });
      const pipe = makePipeline(ae, ldm.denoiser, ldm.info, { sampler: o.sampler, shift: o.shift });
      const { images, labels } = await sampleClassGrid(pipe, ldm.info.numClasses, {
        perClass: o.perClass,
        steps: o.sampleSteps,
        cfg: o.cfg,
        seed: o.seed,
        batchSize: o.batchSize,
        reporter: ctx.reporter,
        signal: ctx.signal,
      });
      try {
        const png = join(outDir, 'samples.png');
        await writeGrid(png, images, o.perClass);
        const u8 = quantizeToUint8((await images.data()) as Float32Array);
        await writeTensorFile(join(outDir, 'samples.npz'), {
          images: { dtype: 'uint8', shape: [...images.shape], data: u8 },
          labels: { dtype: 'int32', shape: [labels.length], data: labels },
        });
        ctx.reporter.result(
          { grid: png, npz: join(outDir, 'samples.npz'), count: images.shape[0], weights: ldm.weights },
          `wrote ${images.shape[0]} samples with the ${ldm.weights === 'ema' ? 'EMA' : 'raw'} weights: ${png} (row k = class ${ldm.info.classes ? ldm.info.classes.join(', ') : 'k'})`,
        );
      } finally {
        images.dispose();
      }
    }),
});
