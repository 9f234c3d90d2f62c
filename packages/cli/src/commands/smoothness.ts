/** `ldmae smoothness`: the latent-smoothness curve of an autoencoder (paper Sec. 5.1, Fig. 6). */
import { join } from 'node:path';
import { defineCommand } from '../command.js';
import { writeJson, writeOutput } from '../files.js';
import { fmtNumber } from '../progress.js';
import { lineChart } from '../report/svg.js';
import { evalSmoothness } from '../steps/evaluate.js';
import { withEvalNetworks } from './eval-common.js';
import { aeSpec, dataSpecs, epsSpec, extractorSpecs, outSpec } from './shared.js';
import { withAutoencoder } from './start.js';

export const smoothnessCommand = defineCommand({
  name: 'smoothness',
  summary: 'latent smoothness: reconstruction quality under latent noise (rFID, PSNR vs eps)',
  details: `Decodes z + eps * std_c * n (z the posterior mean, std_c the per-channel std of the latents over
the images, n ~ N(0, I)) for each --eps and reports rFID (on --extractor), PSNR, SSIM, LPIPS (with
--lpips) per eps: a smooth latent space degrades slowly. Writes smoothness.json, smoothness.svg and
config.json into --out.`,
  specs: [
    aeSpec,
    ...dataSpecs('test'),
    { key: 'n', type: 'int', description: 'images evaluated', default: 200, min: 2 },
    epsSpec,
    ...extractorSpecs,
    { key: 'lpips', type: 'boolean', description: 'also compute LPIPS per eps (offline trunk)' },
    outSpec('smoothness'),
  ],
  run: (o, ctx) =>
    withAutoencoder('smoothness', o, ctx, ({ ae, kind, data, outDir }) =>
      withEvalNetworks(o, data.imageSize, ctx, o.lpips === true, async (nets) => {
        const r = await evalSmoothness(ae, data, o.n, o.eps, nets);
        await writeJson(join(outDir, 'smoothness.json'), { autoencoder: o.ae, kind, n: o.n, ...r });
        const svg = lineChart(
          [{ name: `rFID (${kind})`, points: r.points.map((p) => [p.eps, p.rfid ?? Number.NaN] as const) }],
          { title: 'Latent smoothness', xLabel: 'perturbation ratio eps', yLabel: 'rFID' },
        );
        await writeOutput(join(outDir, 'smoothness.svg'), svg, 'plot');
        const lines = r.points.map(
          (p) =>
            `  eps ${String(p.eps).padEnd(6)} rFID ${fmtNumber(p.rfid).padEnd(8)} PSNR ${fmtNumber(p.psnr).padEnd(7)} SSIM ${fmtNumber(p.ssim)}`,
        );
        ctx.reporter.result(
          { ...r, svg: join(outDir, 'smoothness.svg') },
          [
            `latent smoothness of ${kind} on ${o.n} images [${r.extractor}]:`,
            ...lines,
            `curve: ${join(outDir, 'smoothness.svg')}`,
          ].join('\n'),
        );
      }),
    ),
});
