/** `ldmae eval-recon`: reconstruction metrics of an autoencoder (rFID, PSNR, SSIM, LPIPS, L1, MSE). */
import { defineCommand } from '../command.js';
import { fmtNumber } from '../progress.js';
import { evalReconstruction } from '../steps/evaluate.js';
import { reportMetrics, withEvalNetworks } from './eval-common.js';
import { aeSpec, dataSpecs, extractorSpecs, outSpec } from './shared.js';
import { withAutoencoder } from './start.js';

export const evalReconCommand = defineCommand({
  name: 'eval-recon',
  summary: 'reconstruction metrics of an autoencoder: rFID, PSNR, SSIM, LPIPS, L1, MSE',
  details: `PSNR on uint8 images (mean of per-image values), SSIM on [-1, 1] with L = 2, LPIPS with the
offline trunk (nsfwjs InceptionV3 early layers, uniform lin weights; images smaller than 43 px are
upsampled to 64 px), rFID on --extractor features of originals vs reconstructions. Results name every network
and n; they are not comparable with published numbers unless --extractor is the FID Inception.
Writes metrics.json and config.json into --out.`,
  specs: [
    aeSpec,
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
  run: (o, ctx) =>
    withAutoencoder('eval-recon', o, ctx, ({ ae, kind, data, outDir }) =>
      withEvalNetworks(o, data.imageSize, ctx, o.lpips !== false, async (nets) => {
        const r = await evalReconstruction(ae, data, o.n, nets);
        await reportMetrics(ctx.reporter, outDir, { autoencoder: o.ae, kind, data: data.description, ...r }, [
          `reconstruction of ${r.count} images (${data.name}, ${data.split}):`,
          `  rFID  ${fmtNumber(r.rfid)}   [${r.extractor}]`,
          `  PSNR  ${fmtNumber(r.psnr)} dB`,
          `  SSIM  ${fmtNumber(r.ssim)}`,
          `  LPIPS ${fmtNumber(r.lpips)}   [${r.lpipsNet ?? 'off'}]`,
          `  L1 ${fmtNumber(r.l1)}  MSE ${fmtNumber(r.mse)}`,
        ]);
      }),
    ),
});
