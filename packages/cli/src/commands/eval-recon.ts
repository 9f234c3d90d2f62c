/** `ldmae eval-recon`: reconstruction metrics of an autoencoder (rFID, PSNR, SSIM, LPIPS, L1, MSE). */
import { join } from 'node:path';
import { loadAutoencoder } from '../autoencoders.js';
import type { CommandDefinition } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { dataFlags, loadData, type Split } from '../data-source.js';
import { writeJson } from '../files.js';
import { fmtNumber } from '../progress.js';
import { evalReconstruction } from '../steps/evaluate.js';
import { evalNetworks } from './eval-common.js';
import { aeSpec, dataSpecs, extractorSpecs, outSpec } from './shared.js';

export const evalReconCommand: CommandDefinition = {
  name: 'eval-recon',
  summary: 'reconstruction metrics of an autoencoder: rFID, PSNR, SSIM, LPIPS, L1, MSE',
  details: `PSNR on uint8 images (mean of per-image values), SSIM on [-1, 1] with L = 2, LPIPS with the
offline trunk (nsfwjs InceptionV3 early layers, uniform lin weights; images smaller than 43 px are
upsampled to 64 px), rFID on --extractor features of originals vs reconstructions. Results name every network
and n; they are not comparable with published numbers unless --extractor is the FID Inception.
Writes metrics.json and config.json into --out.`,
  specs: [
    aeSpec(),
    ...dataSpecs('test'),
    { key: 'n', type: 'int', description: 'images evaluated', default: 500, min: 2 },
    ...extractorSpecs,
    {
      key: 'lpips',
      type: 'boolean',
      description: 'do not compute LPIPS (the offline nsfwjs trunk)',
      default: true,
    },
    outSpec('eval-recon'),
  ],
  async run(o, ctx) {
    const { ae, kind } = await loadAutoencoder(o.ae as string);
    try {
      const data = await loadData(o.data as string, {
        ...dataFlags(o, ctx.reporter),
        split: o.split as Split,
        imageSize: o.imageSize as number | undefined,
      });
      const outDir = o.out as string;
      await writeResolvedConfig(outDir, 'eval-recon', o, { runtime: ctx.runtime });
      const nets = await evalNetworks(o, data.imageSize, ctx.reporter, o.lpips !== false, ctx.signal);
      try {
        const r = await evalReconstruction(ae, data, o.n as number, nets);
        const out = { autoencoder: o.ae, kind, data: data.description, ...r };
        await writeJson(join(outDir, 'metrics.json'), out);
        ctx.reporter.result(
          out,
          [
            `reconstruction of ${r.count} images (${data.name}, ${data.split}):`,
            `  rFID  ${fmtNumber(r.rfid)}   [${r.extractor}]`,
            `  PSNR  ${fmtNumber(r.psnr)} dB`,
            `  SSIM  ${fmtNumber(r.ssim)}`,
            `  LPIPS ${fmtNumber(r.lpips)}   [${r.lpipsNet ?? 'off'}]`,
            `  L1 ${fmtNumber(r.l1)}  MSE ${fmtNumber(r.mse)}`,
            `metrics: ${join(outDir, 'metrics.json')}`,
          ].join('\n'),
        );
      } finally {
        nets.dispose();
      }
    } finally {
      ae.dispose();
    }
  },
};
