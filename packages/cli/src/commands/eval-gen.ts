/** `ldmae eval-gen`: generation metrics of a latent diffusion model (FID, precision, recall). */
import { defineCommand } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { fmtNumber } from '../progress.js';
import { evalGeneration } from '../steps/evaluate.js';
import { makePipeline } from '../steps/sample.js';
import { reportMetrics, withEvalNetworks } from './eval-common.js';
import {
  dataSpecs,
  extractorSpecs,
  ldmSpec,
  outSpec,
  recordedAeSpec,
  samplingSpecs,
  seedSpec,
  weightsSpec,
} from './shared.js';
import { loadDataOption, withDiffusionModel } from './start.js';

export const evalGenCommand = defineCommand({
  name: 'eval-gen',
  summary: 'generation metrics of a latent diffusion model: FID, precision, recall',
  details: `Draws --n samples (classes uniform at random) and compares their --extractor features with
those of --n reference images of --data (the test split by default): FID, and improved precision /
recall (k = 3). With the offline extractor the numbers compare models with each other here, not with
published FIDs. Writes metrics.json and config.json into --out.`,
  specs: [
    ldmSpec,
    weightsSpec,
    recordedAeSpec,
    ...dataSpecs('test'),
    { key: 'n', type: 'int', description: 'generated images (and reference images)', default: 500, min: 2 },
    ...samplingSpecs,
    ...extractorSpecs,
    seedSpec,
    outSpec('eval-gen'),
  ],
  run: (o, ctx) =>
    withDiffusionModel(o, ctx.reporter, async ({ ldm, ae, aePath }) => {
      const data = await loadDataOption(o, ctx.reporter, {
        imageSize: o.imageSize ?? ldm.info.imageShape[0],
      });
      const outDir = o.out;
      await writeResolvedConfig(outDir, 'eval-gen', { ...o, ae: aePath }, { runtime: ctx.runtime });
      const pipe = makePipeline(ae, ldm.denoiser, ldm.info, { sampler: o.sampler, shift: o.shift });
      await withEvalNetworks(o, data.imageSize, ctx, false, async (nets) => {
        const sampling = { steps: o.sampleSteps, cfg: o.cfg, seed: o.seed };
        const r = await evalGeneration(pipe, data, o.n, sampling, nets);
        await reportMetrics(
          ctx.reporter,
          outDir,
          { ldm: o.ldm, autoencoder: aePath, reference: data.description, ...r },
          [
            `generation: ${r.count} samples vs ${r.referenceCount} reference images [${r.extractor}]`,
            `  FID       ${fmtNumber(r.fid)}`,
            `  precision ${fmtNumber(r.precision)}`,
            `  recall    ${fmtNumber(r.recall)}`,
          ],
        );
      });
    }),
});
