/** The study's tables from its runs: each number averaged over seeds, with the spread. */
import type { Measured, StudyRow, StudyTables } from './claims.js';
import type { StudyRunResult } from './run.js';

/** Mean and population std of the finite values, or null when there are none. */
export function measured(values: (number | null | undefined)[]): Measured | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, seeds: v.length };
}

/** One table row from the runs of one row id (its seeds). */
function row(id: string, runs: StudyRunResult[], eps: number[]): StudyRow {
  const m = (f: (r: StudyRunResult) => number | null | undefined) => measured(runs.map(f));
  return {
    id,
    row: runs[0].spec.row,
    l1: m((r) => r.recon?.l1),
    mse: m((r) => r.recon?.mse),
    psnr: m((r) => r.recon?.psnr),
    ssim: m((r) => r.recon?.ssim),
    lpips: m((r) => r.recon?.lpips),
    rfid: m((r) => r.recon?.rfid),
    gfid: m((r) => r.gen?.fid),
    precision: m((r) => r.gen?.precision),
    recall: m((r) => r.gen?.recall),
    params: runs[0].train?.params ?? null,
    trainSeconds: m((r) => r.train?.seconds),
    imagesPerSecond: m((r) => r.train?.imagesPerSecond),
    rfidByEps: eps.map((e) => m((r) => r.smoothness?.find((p) => p.eps === e)?.rfid)),
    sigma2: m((r) => r.compression?.latent.sigma2),
    rho: m((r) => r.compression?.latent.rho),
  };
}

/** Group the runs by row id (the id without its seed suffix) and build the tables. */
export function studyTables(results: StudyRunResult[]): StudyTables {
  const eps = results.find((r) => r.smoothness)?.smoothness?.map((p) => p.eps) ?? [];
  const base = (id: string) => id.replace(/-s\d+$/, '');
  const groups = new Map<string, StudyRunResult[]>();
  for (const r of results) groups.set(base(r.spec.id), [...(groups.get(base(r.spec.id)) ?? []), r]);
  const models: Record<string, StudyRow> = {};
  const ablation: StudyRow[] = [];
  for (const [id, runs] of groups) {
    const t = row(id, runs, eps);
    if (runs[0].spec.groups.includes('models')) models[runs[0].spec.kind] = t;
  }
  // Table 4 in order: MSE, + masking, + KL, then the full VMAE (+ perceptual).
  for (const id of ['vmae-mse', 'vmae-mask', 'vmae-kl', 'vmae']) {
    const runs = groups.get(id);
    if (runs?.[0].spec.groups.includes('ablation'))
      ablation.push({ ...row(id, runs, eps), row: id === 'vmae' ? '+ Perceptual loss' : runs[0].spec.row });
  }
  const pixels = {
    sigma2: measured(results.map((r) => r.compression?.pixels.sigma2)),
    rho: measured(results.map((r) => r.compression?.pixels.rho)),
  };
  return { models, ablation, pixels, eps };
}
