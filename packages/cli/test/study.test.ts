/**
 * `ldmae study`: the verdict function on hand-made tables, the budget rules, and a tiny study (two
 * models, a few steps, small n) whose study.json follows its schema, which --resume skips stage by
 * stage, and which leaks no tensors.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  combine,
  compare,
  judgeClaims,
  type Measured,
  type StudyRow,
  type StudyTables,
} from '../src/study/claims.js';
import { aeClockSeconds, planAeSteps, planEvalImages, studyRuns } from '../src/study/plan.js';
import { parseModels } from '../src/study/run.js';
import { run, tempDir } from './helpers.js';

const m = (mean: number, std = 0, seeds = 1): Measured => ({ mean, std, seeds });

function row(
  id: string,
  v: Partial<Record<'rfid' | 'psnr' | 'gfid' | 'sigma2' | 'rho', number>>,
  rfidByEps: number[] = [],
): StudyRow {
  const f = (k: keyof typeof v) => (v[k] === undefined ? null : m(v[k] as number));
  return {
    id,
    row: id.toUpperCase(),
    l1: null,
    mse: null,
    psnr: f('psnr'),
    ssim: null,
    lpips: null,
    rfid: f('rfid'),
    gfid: f('gfid'),
    precision: null,
    recall: null,
    params: id === 'vmae' ? 100 : 1000,
    trainSeconds: null,
    imagesPerSecond: null,
    rfidByEps: rfidByEps.map((x) => m(x)),
    sigma2: f('sigma2'),
    rho: f('rho'),
  };
}

/** Tables in which every claim of the paper holds. */
function paperLike(): StudyTables {
  return {
    eps: [0, 0.3],
    models: {
      ae: row('ae', { rfid: 6, psnr: 32, gfid: 13, sigma2: 0.5, rho: 1.2 }, [6, 30]),
      dae: row('dae', { rfid: 4, psnr: 31, gfid: 9, sigma2: 1.5, rho: 1.3 }, [4, 25]),
      vae: row('vae', { rfid: 17, psnr: 29, gfid: 35, sigma2: 1.6, rho: 1.1 }, [17, 19]),
      'sd-vae': row('sd-vae', { rfid: 2, psnr: 29.8, gfid: 6.5, sigma2: 0.1, rho: 1.0 }, [2, 5]),
      vmae: row('vmae', { rfid: 0.9, psnr: 31.5, gfid: 6, sigma2: 0.3, rho: 1.5 }, [0.9, 3]),
    },
    ablation: [
      row('vmae-mse', { rfid: 6, gfid: 13 }),
      row('vmae-mask', { rfid: 4.7, gfid: 9 }),
      row('vmae-kl', { rfid: 1.6, gfid: 6.3 }),
      row('vmae', { rfid: 0.9, gfid: 6 }),
    ],
    pixels: { sigma2: m(1), rho: m(1.05) },
  };
}

describe('verdicts', () => {
  it('compare: holds, fails, or within noise (the larger std over seeds)', () => {
    expect(compare(m(1), m(2), 'lower')).toBe('holds');
    expect(compare(m(2), m(1), 'lower')).toBe('fails');
    expect(compare(m(2), m(1), 'higher')).toBe('holds');
    expect(compare(m(1, 0.6, 3), m(1.5, 0.2, 3), 'lower')).toBe('within noise');
    expect(compare(m(1, 0.1, 3), m(1.5, 0.2, 3), 'lower')).toBe('holds');
    expect(combine(['holds', 'within noise'])).toBe('within noise');
    expect(combine(['holds', 'fails', 'within noise'])).toBe('fails');
    expect(combine([])).toBe('not measured');
  });

  it('every claim holds on tables shaped like the paper’s, and follows the numbers when they change', () => {
    const t = paperLike();
    const all = judgeClaims(t);
    expect(all.length).toBe(15);
    for (const c of all) expect(c.verdict, `${c.id}: ${c.detail}`).toBe('holds');
    // Make the VAE's gFID the best: 'VAE has the worst gFID' and 'VMAE has the best gFID' fail.
    t.models.vae.gfid = m(1);
    const v = Object.fromEntries(judgeClaims(t).map((c) => [c.id, c.verdict]));
    expect(v['vae-worst-gfid']).toBe('fails');
    expect(v['vmae-best-gfid']).toBe('fails');
    expect(v['vmae-beats-sdvae']).toBe('holds');
    // An ablation step that raises gFID breaks the monotone claim.
    t.ablation[2].gfid = m(20);
    expect(judgeClaims(t).find((c) => c.id === 'ablation-gfid')?.verdict).toBe('fails');
  });

  it('claims without the models they need are not measured', () => {
    const t = paperLike();
    delete (t.models as Record<string, StudyRow>).dae;
    t.ablation = [];
    const v = Object.fromEntries(judgeClaims(t).map((c) => [c.id, c.verdict]));
    expect(v['vmae-best-rfid']).toBe('not measured');
    expect(v['vmae-beats-sdvae']).toBe('holds');
    expect(v['ablation-gfid']).toBe('not measured');
  });
});

describe('plan', () => {
  it('time rule: equal seconds per run; images rule: equal steps', () => {
    const s = { ae: 0.1, vmae: 0.4 };
    // The time rule's steps are caps (its clocks end the trainings): 1.5x what the seconds fit.
    expect(planAeSteps('time', 100, s)).toEqual({ ae: 750, vmae: 187 });
    expect(aeClockSeconds('time', 100, Object.keys(s))).toEqual({ ae: 50, vmae: 50 });
    expect(aeClockSeconds('images', 100, Object.keys(s))).toBeUndefined();
    expect(planAeSteps('images', 100, s)).toEqual({ ae: 200, vmae: 200 });
    expect(
      planEvalImages({
        seconds: 10,
        extractorSeconds: 0.01,
        sampleSeconds: 0.01,
        epsCount: 6,
        available: 1000,
      }),
    ).toBe(142); // 10 s / (2 + 3 + 1 + 1) x 0.01 s
    expect(
      planEvalImages({
        seconds: 1e6,
        extractorSeconds: 0.01,
        sampleSeconds: 0.01,
        epsCount: 6,
        available: 300,
      }),
    ).toBe(300);
  });

  it('runs: the models, then the ablation (the full VMAE closes it), per seed', () => {
    const r = studyRuns(['ae', 'vmae'], true, 2);
    expect(r.map((x) => x.id)).toEqual([
      'ae',
      'vmae',
      'vmae-mse',
      'vmae-mask',
      'vmae-kl',
      'ae-s2',
      'vmae-s2',
      'vmae-mse-s2',
      'vmae-mask-s2',
      'vmae-kl-s2',
    ]);
    const vmae = r[1];
    expect(vmae.groups).toEqual(['models', 'ablation']);
    expect([vmae.maskRatio, vmae.klWeight, vmae.lpipsWeight]).toEqual([0.25, 1e-6, 0.5]);
    expect([r[2].maskRatio, r[2].klWeight, r[2].lpipsWeight]).toEqual([0, 0, 0]);
    expect(() => parseModels('ae,gan')).toThrow(
      /--models must list autoencoders of ae, dae, vae, sd-vae, vmae/,
    );
    expect(parseModels('vmae, ae')).toEqual(['ae', 'vmae']);
  });
});

describe('a tiny study', () => {
  let dir: string;
  const args = () => [
    'study',
    '--data',
    'mnist',
    '--models',
    'ae,vmae',
    '--no-ablation',
    '--ae-steps',
    '2',
    '--ldm-steps',
    '2',
    '--eval-images',
    '10',
    '--sample-steps',
    '2',
    '--minutes',
    '1',
    '--json',
    '--out',
    dir,
  ];
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
    dir = tempDir();
  });

  it('writes study.json and study.html, leaking no tensors', async () => {
    const before = tf.memory().numTensors;
    const r = await run(args());
    expect(r.code, r.stderr).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const s = JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8'));
    expect(s).toMatchObject({ format: 'ldmae-study', version: 1, rule: 'time' });
    expect(Object.keys(s.tables.models)).toEqual(['ae', 'vmae']);
    for (const id of ['ae', 'vmae']) {
      const t = s.tables.models[id];
      for (const k of ['l1', 'mse', 'psnr', 'ssim', 'lpips', 'rfid', 'gfid', 'sigma2', 'rho', 'trainSeconds'])
        expect(Number.isFinite(t[k]?.mean), `${id}.${k}`).toBe(true);
      expect(t.params).toBeGreaterThan(1000);
      expect(t.rfidByEps.length).toBe(6);
    }
    expect(s.claims.length).toBe(15);
    expect(s.claims.every((c: { verdict: string }) => c.verdict === 'not measured')).toBe(true);
    expect(s.plan.aeSteps).toEqual({ ae: 2, vmae: 2 });
    const html = readFileSync(join(dir, 'study.html'), 'utf8');
    expect(html).toContain('Table 1: reconstruction');
    expect(html).toContain('<svg');
    expect(html).toContain('One seed: the verdicts have no error bar');
    for (const f of ['ae/reconstructions.png', 'vmae/samples.png', 'vmae/ldm/pipeline/pipeline.json'])
      expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('--resume skips finished stages and redoes only what an interrupted run left', async () => {
    const again = await run([...args(), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('ae: training done in an earlier run');
    expect(again.out.json().some((l) => String(l.phase ?? '').startsWith('train '))).toBe(false);
    // A run killed after its reconstruction metrics: only the diffusion stage runs again.
    const file = join(dir, 'vmae', 'result.json');
    const r = JSON.parse(readFileSync(file, 'utf8'));
    delete r.gen;
    writeFileSync(file, JSON.stringify(r));
    const third = await run([...args(), '--resume']);
    expect(third.code, third.stderr).toBe(0);
    const phases = new Set(third.out.json().map((l) => String(l.phase ?? '')));
    expect(phases.has('diffusion vmae')).toBe(true);
    expect(phases.has('recon vmae')).toBe(false);
    expect(phases.has('diffusion ae')).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8')).gen.count).toBe(10);
  });

  it('refuses to overwrite an earlier study without --resume or --overwrite', async () => {
    const r = await run(args());
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('holds an earlier study; not overwriting it');
  });
});
