/** `ldmae eval-gen`: generation metrics of a latent diffusion model (FID, precision, recall). */
import { join } from 'node:path';
import { loadAutoencoder } from '../autoencoders.js';
import type { CommandDefinition } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { dataFlags, loadData, type Split } from '../data-source.js';
import { UsageError } from '../errors.js';
import { writeJson } from '../files.js';
import { fmtNumber } from '../progress.js';
import { evalGeneration } from '../steps/evaluate.js';
import { loadLdm, makePipeline } from '../steps/sample.js';
import { evalNetworks } from './eval-common.js';
import {
  aeSpec,
  dataSpecs,
  extractorSpecs,
  ldmSpec,
  outSpec,
  samplingSpecs,
  seedSpec,
  weightsSpec,
} from './shared.js';

export const evalGenCommand: CommandDefinition = {
  name: 'eval-gen',
  summary: 'generation metrics of a latent diffusion model: FID, precision, recall',
  details: `Draws --n samples (classes uniform at random) and compares their --extractor features with
those of --n reference images of --data (the test split by default): FID, and improved precision /
recall (k = 3). With the offline extractor the numbers compare models with each other here, not with
published FIDs. Writes metrics.json and config.json into --out.`,
  specs: [
    ldmSpec,
    weightsSpec,
    { ...aeSpec(null), description: `${aeSpec().description} (default: the one recorded with --ldm)` },
    ...dataSpecs('test'),
    { key: 'n', type: 'int', description: 'generated images (and reference images)', default: 500, min: 2 },
    ...samplingSpecs,
    ...extractorSpecs,
    seedSpec,
    outSpec('eval-gen'),
  ],
  async run(o, ctx) {
    const ldm = await loadLdm(o.ldm as string, o.weights as 'ema' | 'raw' | undefined);
    ctx.reporter.info(`--ldm: step ${ldm.step}, ${ldm.weights === 'ema' ? 'EMA' : 'raw (trained)'} weights`);
    if (ldm.warning) ctx.reporter.warn(ldm.warning);
    try {
      const aePath = (o.ae as string | undefined) ?? ldm.info.autoencoder;
      if (!aePath)
        throw new UsageError('--ae is required: the diffusion checkpoint does not record its autoencoder');
      const { ae } = await loadAutoencoder(aePath);
      try {
        const data = await loadData(o.data as string, {
          ...dataFlags(o, ctx.reporter),
          split: o.split as Split,
          imageSize: (o.imageSize as number | undefined) ?? ldm.info.imageShape[0],
        });
        const outDir = o.out as string;
        await writeResolvedConfig(outDir, 'eval-gen', { ...o, ae: aePath }, { runtime: ctx.runtime });
        const pipe = makePipeline(ae, ldm.denoiser, ldm.info, {
          sampler: o.sampler as string,
          shift: o.shift as number,
        });
        const nets = await evalNetworks(o, data.imageSize, ctx.reporter, false, ctx.signal);
        try {
          const r = await evalGeneration(
            pipe,
            data,
            o.n as number,
            { steps: o.sampleSteps as number, cfg: o.cfg as number, seed: o.seed as number },
            nets,
          );
          const out = { ldm: o.ldm, autoencoder: aePath, reference: data.description, ...r };
          await writeJson(join(outDir, 'metrics.json'), out);
          ctx.reporter.result(
            out,
            [
              `generation: ${r.count} samples vs ${r.referenceCount} reference images [${r.extractor}]`,
              `  FID       ${fmtNumber(r.fid)}`,
              `  precision ${fmtNumber(r.precision)}`,
              `  recall    ${fmtNumber(r.recall)}`,
              `metrics: ${join(outDir, 'metrics.json')}`,
            ].join('\n'),
          );
        } finally {
          nets.dispose();
        }
      } finally {
        ae.dispose();
      }
    } finally {
      ldm.denoiser.dispose();
    }
  },
};
