/**
 * study.html: the paper's tables with our numbers beside the paper's, the latent-noise curves
 * (Fig. 6) and the compression scatter (Fig. 7) as inline SVG, reconstruction and sample grids per
 * model, and every claim with its verdict. One file, no scripts, no external resources.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@ldmae/core';
import { fmtNumber } from '../progress.js';
import type { RuntimeInfo } from '../runtime.js';
import type { ClaimResult, Measured, StudyRow, StudyTables } from '../study/claims.js';
import { PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE4 } from '../study/claims.js';
import type { StudyPlan } from '../study/run.js';
import { pngDataUri, table } from './html.js';
import { esc, lineChart, type Series } from './svg.js';

/** What {@link writeStudyReport} shows. */
export interface StudyReportInput {
  created: string;
  data: string;
  rule: string;
  budgetMinutes: unknown;
  seconds: number;
  extractor: string;
  lpips: string | null;
  /** What Fig. 7's segments are. */
  segmentation: string;
  plan: StudyPlan;
  tables: StudyTables;
  claims: ClaimResult[];
  runtime: RuntimeInfo;
  /** The study folder (grids are read from `<out>/<id>/`). */
  out: string;
}

const num = (m: Measured | null | undefined) =>
  m == null ? 'n/a' : m.seeds > 1 ? `${fmtNumber(m.mean)} ± ${fmtNumber(m.std)}` : fmtNumber(m.mean);
const paper = (v: number | undefined) => (v === undefined ? '-' : String(v));

async function png(path: string): Promise<string | null> {
  try {
    return pngDataUri(new Uint8Array(await readFile(path)));
  } catch {
    return null;
  }
}

function fig6(t: StudyTables, rows: StudyRow[]): string {
  const series: Series[] = rows.map((r) => ({
    name: r.row,
    points: t.eps.map((e, i) => [e, r.rfidByEps[i]?.mean ?? Number.NaN] as const),
    markers: true,
  }));
  return lineChart(series, { title: 'Fig. 6: rFID under latent noise', xLabel: 'eps', yLabel: 'rFID' });
}

function fig7(t: StudyTables, rows: StudyRow[]): string {
  const series: Series[] = rows
    .filter((r) => r.sigma2 && r.rho)
    .map((r) => ({ name: r.row, points: [[r.sigma2!.mean, r.rho!.mean] as const], markers: true }));
  if (t.pixels.sigma2 && t.pixels.rho)
    series.push({
      name: 'raw pixels',
      points: [[t.pixels.sigma2.mean, t.pixels.rho.mean] as const],
      markers: true,
      dashed: true,
    });
  return lineChart(series, { title: 'Fig. 7: sigma^2 (x) and rho (y)', xLabel: 'sigma^2', yLabel: 'rho' });
}

/** Write study.html. */
export async function writeStudyReport(path: string, d: StudyReportInput): Promise<void> {
  const t = d.tables;
  const models = Object.values(t.models);
  const t1 = table(
    models.map((r) => {
      const p = PAPER_TABLE1[r.id];
      return [
        r.row,
        ...[r.l1, r.mse, r.psnr, r.ssim, r.lpips, r.rfid].map(num),
        `${paper(p?.psnr)} / ${paper(p?.lpips)} / ${paper(p?.rfid)}`,
      ];
    }),
    ['model', 'L1', 'MSE', 'PSNR', 'SSIM', 'LPIPS', 'rFID', 'paper PSNR / LPIPS / rFID'],
  );
  const t2 = table(
    models.map((r) => {
      const p = r.id === 'vmae' ? PAPER_TABLE2.vmae : PAPER_TABLE2.baselines;
      return [
        r.row,
        r.params ?? 'n/a',
        r.params == null ? 'n/a' : ((r.params * 4) / 1e6).toFixed(2),
        num(r.trainSeconds),
        num(r.imagesPerSecond),
        `${p.sizeMB} MB / ${p.gflops} GFLOPs / ${p.trainHours} h`,
      ];
    }),
    [
      'model',
      'parameters',
      'size (MB, float32)',
      'training (s)',
      'training images/s',
      'paper size / GFLOPs / training',
    ],
  );
  const t3 = table(
    models.map((r) => {
      const p = PAPER_TABLE3[r.id];
      return [
        r.row,
        ...[r.gfid, r.precision, r.recall].map(num),
        `${paper(p?.gfid)} / ${paper(p?.precision)} / ${paper(p?.recall)}`,
      ];
    }),
    ['model', 'gFID', 'precision', 'recall', 'paper gFID / precision / recall'],
  );
  const t4 = table(
    t.ablation.map((r, i) => {
      const p = PAPER_TABLE4[i];
      return [
        r.row,
        ...[r.psnr, r.ssim, r.rfid, r.lpips, r.gfid].map(num),
        p ? `${p.psnr} / ${p.ssim} / ${p.rfid} / ${p.lpips} / ${p.gfid}` : '-',
      ];
    }),
    ['losses', 'PSNR', 'SSIM', 'rFID', 'LPIPS', 'gFID', 'paper PSNR / SSIM / rFID / LPIPS / gFID'],
  );
  const f7 = table(
    [
      ...models.map((r) => [r.row, num(r.sigma2), num(r.rho)]),
      ['raw pixels', num(t.pixels.sigma2), num(t.pixels.rho)],
    ],
    ['features', 'sigma^2', 'rho'],
  );
  const claims = table(
    d.claims.map((c) => [c.claim, c.source, c.verdict, c.detail]),
    ['claim', 'paper', 'verdict', 'measured'],
  );
  const grids: string[] = [];
  for (const r of [...models, ...t.ablation.filter((a) => !t.models[a.id])]) {
    const [rec, sam] = await Promise.all([
      png(join(d.out, r.id, 'reconstructions.png')),
      png(join(d.out, r.id, 'samples.png')),
    ]);
    grids.push(
      `<figure><h3>${esc(r.row)}</h3>${rec ? `<img alt="reconstructions" src="${rec}" width="232">` : ''}${sam ? `<img alt="samples" src="${sam}" width="232">` : ''}<figcaption>originals above reconstructions; samples, one row per class</figcaption></figure>`,
    );
  }
  const seeds = Math.max(1, ...models.map((r) => r.rfid?.seeds ?? 1));
  const plan = d.plan;
  const notes = [
    `Data: ${d.data}. The paper measures ImageNet-1K at 256 px (Tables 1-4) and ADE20K / CelebAMask-HQ segmentations (Fig. 7); the numbers beside ours are the paper's and are not expected to match in value, only in order.`,
    `Budget rule: ${d.rule === 'time' ? 'equal training wall time for every autoencoder' : 'equal images seen (the same steps and batch) for every autoencoder'}; diffusion models: the same configuration and ${plan.ldm.steps} steps for every autoencoder.`,
    `Feature network of rFID / gFID / precision / recall: ${d.extractor}; LPIPS: ${d.lpips ?? 'n/a'}; ${plan.evalImages} images per metric (${plan.smoothnessImages} for the noise curve and Fig. 7).`,
    `Fig. 7 segmentation: ${d.segmentation}.`,
    seeds > 1
      ? `${seeds} seeds: values are mean ± population std over seeds; a verdict is 'within noise' when the difference is below the larger std.`
      : 'One seed: the verdicts have no error bar (any difference decides them); run with --seeds 3 for a spread.',
    'Table 2 reports parameters and measured training speed; GFLOPs are not counted (TensorFlow.js has no FLOP counter).',
  ];
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LDMAE study</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#f4f4f4}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:480px}img{image-rendering:pixelated;border:1px solid #ccc;margin-right:4px}
</style></head><body>
<h1>The paper's comparison of autoencoders, measured</h1>
<p>Run started ${esc(d.created)}: ${esc(d.data)}; ${d.seconds.toFixed(0)} s for a budget of ${esc(String(d.budgetMinutes))} min on ${esc(d.runtime.backend)} (${d.runtime.threads} thread(s), ${d.runtime.cpus} CPUs).</p>
<h2>Claims</h2>
${claims}
<h2>Table 1: reconstruction</h2>
${t1}
<h2>Table 2: efficiency</h2>
${t2}
<h2>Fig. 6: latent smoothness</h2>
<figure>${fig6(t, models)}</figure>
<h2>Fig. 7: perceptual compression</h2>
<figure>${fig7(t, models)}</figure>
${f7}
<h2>Table 3: generation</h2>
${t3}
<h2>Table 4: ablation of the VMAE's losses</h2>
${t4}
<h2>Images</h2>
${grids.join('\n')}
<h2>Notes</h2>
<ul>${notes.map((n) => `<li>${esc(n)}</li>`).join('\n')}</ul>
<h2>Plan</h2>
${table(
  plan.runs.map((r) => [
    r.id,
    r.row,
    plan.aeSteps[r.id],
    plan.aeSeconds ? fmtNumber(plan.aeSeconds[r.id]) : '-',
    fmtNumber(plan.aeStepSeconds[r.id] || null),
    r.maskRatio ?? '-',
    r.klWeight ?? '-',
    r.lpipsWeight,
  ]),
  [
    'run',
    'row',
    'steps (most)',
    'training seconds (clock)',
    's / step (calibrated)',
    'mask ratio',
    'KL weight',
    'perceptual weight',
  ],
)}
</body></html>
`;
  await writeFileAtomic(path, new TextEncoder().encode(html), 'study.html');
}
