/** The quickstart's report.html: everything a run produced, assembled from its results and logs. */
import type { LightningDiTConfig } from '@ldmae/diffusion';
import type { GenerationResult, LatentSmoothnessResult, ReconstructionResult } from '@ldmae/metrics';
import type { LoadedData } from '../data-source.js';
import { readJsonl, writeOutput } from '../files.js';
import type { ResolvedOptions } from '../options.js';
import type { PhaseSummary } from '../progress.js';
import { fmtNumber } from '../progress.js';
import type { RuntimeInfo } from '../runtime.js';
import { type MetricRow, type ReportChart, renderReport } from './html.js';
import { smooth } from './svg.js';

/** What the quickstart hands to {@link writeQuickstartReport}. */
export interface QuickstartReportInput {
  options: ResolvedOptions;
  plan: object;
  created: string;
  runtime: RuntimeInfo;
  train: LoadedData;
  test: LoadedData;
  phases: PhaseSummary[];
  totalSeconds: number;
  budgetSeconds: number;
  aeLog: string;
  ldmLog: string;
  reconPng: Uint8Array;
  samplesPng: Uint8Array;
  classes: string[] | null;
  recon: ReconstructionResult;
  gen: GenerationResult;
  smooth: LatentSmoothnessResult;
  extractorPreprocessing: string;
  ldmConfig: LightningDiTConfig;
}

async function lossSeries(log: string, keys: string[]): Promise<ReportChart['series']> {
  const lines = await readJsonl(log);
  const out: ReportChart['series'] = [];
  for (const key of keys) {
    const pts = lines
      .filter((l) => typeof l.step === 'number' && typeof l[key] === 'number')
      .map((l) => [l.step as number, l[key] as number] as const);
    if (pts.length === 0) continue;
    out.push({ name: key, points: pts, markers: false });
    if (key === 'loss' && pts.length > 10)
      out.push({ name: 'loss (smoothed)', points: smooth(pts, 0.1), markers: false, dashed: true });
  }
  return out;
}

/** Write report.html for a finished quickstart run. */
export async function writeQuickstartReport(path: string, d: QuickstartReportInput): Promise<void> {
  const { recon, gen, smooth: sm } = d;
  const ext = recon.extractor ?? gen.extractor;
  // One row per metric: the reconstruction ones on recon.count test digits, the generation ones on
  // gen.count samples with the feature network.
  type Better = MetricRow['better'];
  const r = (name: string, value: number | null, network: string, better: Better): MetricRow => ({
    group: 'reconstruction',
    name,
    value,
    network,
    n: recon.count,
    better,
  });
  const g = (name: string, value: number | null, better: Better): MetricRow => ({
    group: 'generation',
    name,
    value,
    network: gen.extractor,
    n: gen.count,
    better,
  });
  const metrics = [
    r('PSNR (dB)', recon.psnr, '- (uint8 pixels)', 'higher'),
    r('SSIM', recon.ssim, '- (Gaussian window 11, sigma 1.5)', 'higher'),
    r('LPIPS', recon.lpips, recon.lpipsNet ?? '-', 'lower'),
    r('rFID', recon.rfid, ext, 'lower'),
    r('MSE', recon.mse, '- ([-1, 1] floats)', 'lower'),
    g('FID', gen.fid, 'lower'),
    g('precision (k = 3)', gen.precision, 'higher'),
    g('recall (k = 3)', gen.recall, 'higher'),
  ];
  const aeSeries = await lossSeries(d.aeLog, ['loss', 'masked', 'visible']);
  const ldmSeries = await lossSeries(d.ldmLog, ['loss']);
  const sCount = sm.points[0]?.count ?? 0;
  const o = d.options;
  const classes = d.classes ?? Array.from({ length: 10 }, (_, i) => String(i));
  const report = renderReport({
    title: 'LDMAE quickstart: VMAE + LightningDiT on MNIST',
    created: d.created,
    summary:
      `A tiny Variational Masked AutoEncoder (f4d4-tiny: patch 4, 4 latent channels, 28 x 28 digits -> 7 x 7 x 4 latents) ` +
      `and a tiny class-conditional LightningDiT (${d.ldmConfig.depth} blocks of width ${d.ldmConfig.hiddenSize}, ${d.ldmConfig.numHeads} heads, ` +
      `rectified flow) trained on ${d.train.dataset.length} MNIST digits, evaluated on the ${d.test.dataset.length}-digit test split. ` +
      `Data: ${d.train.description}.`,
    config: {
      ...Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'json' && k !== 'config')),
      plan: d.plan,
    },
    runtime: d.runtime,
    metrics,
    analysis: [
      {
        title: 'Latent smoothness',
        xLabel: 'perturbation ratio eps (z + eps * std_c * noise)',
        yLabel: 'rFID',
        series: [{ name: 'rFID', points: sm.points.map((p) => [p.eps, p.rfid ?? Number.NaN] as const) }],
        caption: `rFID of reconstructions decoded from perturbed latents (paper Fig. 6), ${sCount} test digits, ${ext}; PSNR per eps: ${sm.points.map((p) => `${p.eps}: ${fmtNumber(p.psnr)} dB`).join(', ')}.`,
      },
    ],
    images: [
      {
        title: 'Samples',
        caption: `Row k: ${o.perClass} samples of digit ${classes.join(', ')} (top to bottom); ${o.sampleSteps} ${o.sampler} steps, shift ${o.shift}, guidance scale ${o.cfg}, EMA weights.`,
        png: d.samplesPng,
        scale: 2,
      },
      {
        title: 'Reconstructions',
        caption:
          'Test digits (rows 1 and 3) and their VMAE reconstructions from the posterior mean (rows 2 and 4).',
        png: d.reconPng,
        scale: 2,
      },
    ],
    charts: [
      {
        title: 'VMAE training loss',
        xLabel: 'step',
        yLabel: 'loss',
        logY: true,
        series: aeSeries,
        caption: 'total loss (1 - v) L_M + v L_R + KL term; masked / visible patch MSE.',
      },
      {
        title: 'LightningDiT training loss',
        xLabel: 'step',
        yLabel: 'loss',
        series: ldmSeries,
        caption: 'rectified-flow velocity MSE on normalised latents.',
      },
    ],
    timings: [
      ...d.phases.map((p) => ({
        phase: p.phase,
        seconds: p.seconds,
        detail: `${p.done} ${p.unit} (${fmtNumber(p.rate)} ${p.unit}/s)${p.status === 'done' ? '' : ` ${p.status}`}`,
      })),
      {
        phase: 'other (loading, planning, report)',
        seconds: Math.max(0, d.totalSeconds - d.phases.reduce((a, p) => a + p.seconds, 0)),
        detail: '',
      },
    ],
    notes: [
      `Total ${d.totalSeconds.toFixed(0)} s against a budget of ${d.budgetSeconds.toFixed(0)} s (--minutes ${o.minutes}).`,
      `Feature network of rFID, FID, precision and recall: ${ext} (${d.extractorPreprocessing}).`,
      `These numbers compare runs of this project with each other; they are not comparable with published FIDs, which use the FID Inception (pt_inception-2015-12-05) at 299 px on 50,000 images.`,
      `LPIPS: ${recon.lpipsNet}. Uniform lin weights (no learned LPIPS head applies to this trunk).`,
      `Reconstruction and generation metrics use n = ${recon.count} and ${gen.count} images (reference: ${gen.referenceCount} test digits); the smoothness curve uses ${sCount}.`,
      'Every random choice is seeded (--seed); on the same backend a rerun gives the same numbers.',
    ],
  });
  await writeOutput(path, report, 'report');
}
