/**
 * The paper's numbers (Tables 1-4, ImageNet-1K 256 px) and its claims about them, each judged from a
 * study's tables: holds, fails, or within noise (the spread over seeds; with one seed there is no
 * error bar and the verdict says so).
 */

/** A measured value: the mean over seeds and their population std (0 with one seed), or null. */
export interface Measured {
  mean: number;
  std: number;
  seeds: number;
}

/** One row of the study's tables: every number measured for one autoencoder (or ablation step). */
export interface StudyRow {
  id: string;
  row: string;
  /** Table 1 / Table 4 reconstruction metrics. */
  l1: Measured | null;
  mse: Measured | null;
  psnr: Measured | null;
  ssim: Measured | null;
  lpips: Measured | null;
  rfid: Measured | null;
  /** Table 3 generation metrics. */
  gfid: Measured | null;
  precision: Measured | null;
  recall: Measured | null;
  /** Table 2. */
  params: number | null;
  trainSeconds: Measured | null;
  imagesPerSecond: Measured | null;
  /** Fig. 6: rFID at each eps (same order as the study's eps list). */
  rfidByEps: (Measured | null)[];
  /** Fig. 7. */
  sigma2: Measured | null;
  rho: Measured | null;
}

/** The tables a verdict reads: model rows by kind, ablation rows in order, raw-pixel Fig. 7 values. */
export interface StudyTables {
  models: Record<string, StudyRow>;
  ablation: StudyRow[];
  pixels: { sigma2: Measured | null; rho: Measured | null };
  eps: number[];
}

/** The paper's Table 1 (reconstruction, ImageNet-1K). */
export const PAPER_TABLE1: Record<
  string,
  { l1: number; mse: number; psnr: number; ssim: number; lpips: number; rfid: number }
> = {
  ae: { l1: 0.0218, mse: 0.0013, psnr: 32.18, ssim: 0.895, lpips: 0.172, rfid: 6.21 },
  dae: { l1: 0.0237, mse: 0.0015, psnr: 31.31, ssim: 0.887, lpips: 0.175, rfid: 3.97 },
  vae: { l1: 0.0281, mse: 0.0018, psnr: 29.4, ssim: 0.825, lpips: 0.281, rfid: 17.41 },
  'sd-vae': { l1: 0.0223, mse: 0.0015, psnr: 29.85, ssim: 0.853, lpips: 0.099, rfid: 1.89 },
  vmae: { l1: 0.0221, mse: 0.0014, psnr: 31.52, ssim: 0.89, lpips: 0.062, rfid: 0.89 },
};
/** The paper's Table 2 (model size in MB, GFLOPs, training hours): the four baselines share one row. */
export const PAPER_TABLE2 = {
  baselines: { sizeMB: 319.7, gflops: 17331.3, trainHours: 24 },
  vmae: { sizeMB: 42.7, gflops: 703.9, trainHours: 9 },
} as const;
/** The paper's Table 3 (generation, ImageNet-1K). */
export const PAPER_TABLE3: Record<
  string,
  { gfid: number; sfid: number; is: number; precision: number; recall: number }
> = {
  ae: { gfid: 12.92, sfid: 12.65, is: 124.0, precision: 0.724, recall: 0.339 },
  dae: { gfid: 8.6, sfid: 12.12, is: 160.3, precision: 0.797, recall: 0.402 },
  vae: { gfid: 34.6, sfid: 22.32, is: 54.6, precision: 0.517, recall: 0.415 },
  'sd-vae': { gfid: 6.49, sfid: 5.6, is: 173.3, precision: 0.819, recall: 0.429 },
  vmae: { gfid: 5.98, sfid: 5.16, is: 185.5, precision: 0.844, recall: 0.435 },
};
/** The paper's Table 4 (ablation, ImageNet-1K), in order. */
export const PAPER_TABLE4 = [
  { row: 'Baseline (MSE)', psnr: 32.18, ssim: 0.906, rfid: 6.21, lpips: 0.172, gfid: 12.92 },
  { row: '+ Masking loss', psnr: 32.01, ssim: 0.913, rfid: 4.66, lpips: 0.13, gfid: 8.92 },
  { row: '+ Latent regularizer', psnr: 31.14, ssim: 0.881, rfid: 1.59, lpips: 0.112, gfid: 6.32 },
  { row: '+ Perceptual loss', psnr: 31.52, ssim: 0.889, rfid: 0.89, lpips: 0.062, gfid: 5.98 },
] as const;

/** A claim's verdict. */
export type Verdict = 'holds' | 'fails' | 'within noise' | 'not measured';

/** A judged claim. */
export interface ClaimResult {
  id: string;
  claim: string;
  /** Where the paper makes it. */
  source: string;
  verdict: Verdict;
  /** The numbers behind the verdict. */
  detail: string;
}

/**
 * Compare a and b where `better` says which direction wins: 'holds' when a beats b by more than the
 * noise (the larger of their stds over seeds), 'fails' when b beats a by more, 'within noise' otherwise.
 * With one seed the noise is 0: any difference decides.
 */
export function compare(a: Measured, b: Measured, better: 'lower' | 'higher'): Verdict {
  const noise = Math.max(a.std, b.std);
  const gain = better === 'lower' ? b.mean - a.mean : a.mean - b.mean;
  if (gain > noise) return 'holds';
  if (gain < -noise) return 'fails';
  return 'within noise';
}

/** All pairwise verdicts together: fails if any fails, within noise if any is, else holds. */
export function combine(verdicts: Verdict[]): Verdict {
  if (verdicts.length === 0 || verdicts.includes('not measured')) return 'not measured';
  if (verdicts.includes('fails')) return 'fails';
  if (verdicts.includes('within noise')) return 'within noise';
  return 'holds';
}

const fmt = (m: Measured | null) =>
  m === null
    ? 'n/a'
    : m.seeds > 1
      ? `${m.mean.toPrecision(4)} ± ${m.std.toPrecision(2)}`
      : m.mean.toPrecision(4);
type Key = 'rfid' | 'psnr' | 'gfid' | 'sigma2' | 'rho';
type Better = 'lower' | 'higher';

/** `a` is beyond each of `others` on `key` in the direction `better` ('higher': a has the largest value). */
function beatsAll(
  t: StudyTables,
  a: string,
  others: string[],
  key: Key,
  better: Better,
): { verdict: Verdict; detail: string } {
  const ra = t.models[a]?.[key] ?? null;
  const present = others.filter((o) => t.models[o]?.[key]);
  if (!ra || present.length < others.length)
    return { verdict: 'not measured', detail: `needs ${[a, ...others].join(', ')}` };
  const verdict = combine(present.map((o) => compare(ra, t.models[o][key] as Measured, better)));
  const detail = [a, ...present].map((id) => `${t.models[id].row} ${fmt(t.models[id][key])}`).join(', ');
  return { verdict, detail: `${key}: ${detail}` };
}

/** rFID increase from eps 0 to the largest eps. */
function rfidLoss(r: StudyRow): Measured | null {
  const first = r.rfidByEps[0];
  const last = r.rfidByEps.at(-1);
  if (!first || !last || r.rfidByEps.length < 2) return null;
  return { mean: last.mean - first.mean, std: Math.hypot(first.std, last.std), seeds: first.seeds };
}

/** Judge every claim of the paper the study can check. */
export function judgeClaims(t: StudyTables): ClaimResult[] {
  const out: ClaimResult[] = [];
  const add = (id: string, claim: string, source: string, r: { verdict: Verdict; detail: string }) =>
    out.push({ id, claim, source, ...r });
  const others = (a: string) => Object.keys(t.models).filter((k) => k !== a);
  const all = ['ae', 'dae', 'vae', 'sd-vae', 'vmae'];
  const have = (ids: string[]) => ids.every((id) => t.models[id]);
  /** Claim that `a` beats `vs` (default: every other model, all five needed) on `key`. */
  const beats = (
    id: string,
    claim: string,
    src: string,
    a: string,
    key: Key,
    better: Better,
    vs?: string[],
  ) => {
    const ids = vs ? [a, ...vs] : all;
    add(id, claim, src, have(ids) ? beatsAll(t, a, vs ?? others(a), key, better) : missing(ids));
  };

  beats('vmae-best-rfid', 'VMAE has the lowest rFID', 'Table 1', 'vmae', 'rfid', 'lower');
  add(
    'ae-dae-best-psnr',
    'AE and DAE reconstruct pixels better (PSNR) than VAE and SD-VAE',
    'Table 1',
    have(all)
      ? both(
          beatsAll(t, 'ae', ['vae', 'sd-vae'], 'psnr', 'higher'),
          beatsAll(t, 'dae', ['vae', 'sd-vae'], 'psnr', 'higher'),
        )
      : missing(all),
  );
  beats('vae-worst-rfid', 'VAE has the worst rFID', 'Table 1', 'vae', 'rfid', 'higher');
  const pv = t.models.vmae?.params;
  const ps = t.models['sd-vae']?.params;
  add(
    'vmae-smaller',
    'VMAE has far fewer parameters than SD-VAE (13.4% of its size in the paper)',
    'Table 2',
    pv != null && ps != null
      ? {
          verdict: pv < ps ? 'holds' : 'fails',
          detail: `parameters: VMAE ${pv}, SD-VAE ${ps} (${((100 * pv) / ps).toFixed(1)}%)`,
        }
      : missing(['vmae', 'sd-vae']),
  );
  // Fig. 6: the rFID lost between eps 0 and the largest eps.
  if (have(all) && all.every((id) => rfidLoss(t.models[id]))) {
    const loss = Object.fromEntries(all.map((id) => [id, rfidLoss(t.models[id]) as Measured]));
    const v: Verdict[] = [];
    for (const a of ['ae', 'dae'])
      for (const b of ['vae', 'sd-vae', 'vmae']) v.push(compare(loss[a], loss[b], 'higher'));
    add('ae-dae-least-smooth', 'AE and DAE lose rFID fastest under latent noise', 'Fig. 6', {
      verdict: combine(v),
      detail: `rFID(eps=${t.eps.at(-1)}) - rFID(0): ${all.map((id) => `${t.models[id].row} ${fmt(loss[id])}`).join(', ')}`,
    });
  } else
    add('ae-dae-least-smooth', 'AE and DAE lose rFID fastest under latent noise', 'Fig. 6', missing(all));
  // Fig. 7.
  const px = t.pixels.sigma2;
  const compresses = (id: string, yes: boolean) => {
    const s = t.models[id]?.sigma2;
    if (!s || !px) return 'not measured' as Verdict;
    return compare(s, px, yes ? 'lower' : 'higher');
  };
  add(
    'compression',
    'AE, SD-VAE and VMAE compress (sigma^2 below the raw pixels); DAE and VAE do not',
    'Fig. 7',
    have(all) && px
      ? {
          verdict: combine([
            ...['ae', 'sd-vae', 'vmae'].map((id) => compresses(id, true)),
            ...['dae', 'vae'].map((id) => compresses(id, false)),
          ]),
          detail: `sigma^2: pixels ${fmt(px)}, ${all.map((id) => `${t.models[id].row} ${fmt(t.models[id].sigma2)}`).join(', ')}`,
        }
      : missing(all),
  );
  beats(
    'sdvae-lowest-sigma',
    'SD-VAE compresses most (lowest sigma^2)',
    'Fig. 7',
    'sd-vae',
    'sigma2',
    'lower',
  );
  beats('sdvae-lowest-rho', 'SD-VAE disentangles least (lowest rho)', 'Fig. 7', 'sd-vae', 'rho', 'lower');
  beats('vmae-highest-rho', 'VMAE disentangles most (highest rho)', 'Fig. 7', 'vmae', 'rho', 'higher');
  // Table 3.
  beats('vae-worst-gfid', 'VAE has the worst gFID', 'Table 3', 'vae', 'gfid', 'higher');
  beats('vmae-beats-sdvae', "VMAE's gFID beats SD-VAE's", 'Table 3', 'vmae', 'gfid', 'lower', ['sd-vae']);
  beats('dae-beats-ae', "DAE's gFID beats AE's", 'Table 3', 'dae', 'gfid', 'lower', ['ae']);
  beats('vmae-best-gfid', 'VMAE has the best gFID', 'Table 3', 'vmae', 'gfid', 'lower');
  // Table 4.
  for (const key of ['gfid', 'rfid'] as const) {
    const rows = t.ablation;
    const ok = rows.length === 4 && rows.every((r) => r[key]);
    add(
      `ablation-${key}`,
      `Each ablation step lowers ${key === 'gfid' ? 'gFID' : 'rFID'}`,
      'Table 4',
      ok
        ? {
            verdict: combine(
              rows.slice(1).map((r, i) => compare(r[key] as Measured, rows[i][key] as Measured, 'lower')),
            ),
            detail: `${key}: ${rows.map((r) => `${r.row} ${fmt(r[key])}`).join(' -> ')}`,
          }
        : { verdict: 'not measured', detail: 'needs the four ablation rows' },
    );
  }
  return out;
}

function missing(ids: string[]): { verdict: Verdict; detail: string } {
  return { verdict: 'not measured', detail: `needs ${ids.join(', ')} in --models` };
}

function both(a: { verdict: Verdict; detail: string }, b: { verdict: Verdict; detail: string }) {
  return { verdict: combine([a.verdict, b.verdict]), detail: `${a.detail}; ${b.detail}` };
}
