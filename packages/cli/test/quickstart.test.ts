/**
 * The quickstart pipeline end to end at a minimal budget (a few training steps, 16 evaluation images):
 * every artefact is written, every metric is a finite number, the report names its networks, and a
 * second run resumes instead of retraining.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { decodeImage } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

it('runs the whole pipeline at a minimal budget and writes every artefact', async () => {
  const out = join(tempDir(), 'qs');
  const args = [
    'quickstart',
    '--out',
    out,
    '--ae-steps',
    '3',
    '--ldm-steps',
    '3',
    '--train-images',
    '64',
    '--eval-images',
    '16',
    '--per-class',
    '2',
    '--sample-steps',
    '2',
    '--eps',
    '0,0.2',
    '--json',
  ];
  const tensors = tf.memory().numTensors;
  const r = await run(args);
  expect(r.code, r.stdout.slice(-2000)).toBe(0);
  expect(tf.memory().numTensors).toBe(tensors);

  for (const f of [
    'report.html',
    'samples.png',
    'reconstructions.png',
    'metrics.json',
    'smoothness.json',
    'config.json',
    'state.json',
    'vmae/autoencoder.safetensors',
    'vmae/checkpoint/meta.json',
    'vmae/train-log.jsonl',
    'latents/manifest.json',
    'latents/cache-info.json',
    'ldm/checkpoint/meta.json',
    'ldm/train-log.jsonl',
  ]) {
    expect(existsSync(join(out, f)), f).toBe(true);
    expect(statSync(join(out, f)).size, f).toBeGreaterThan(0);
  }
  // Each checkpoint folder holds exactly the weights its meta.json names.
  for (const ckpt of ['vmae/checkpoint', 'ldm/checkpoint']) {
    const meta = JSON.parse(readFileSync(join(out, ckpt, 'meta.json'), 'utf8'));
    expect(readdirSync(join(out, ckpt)).sort(), ckpt).toEqual(['meta.json', meta.weights]);
  }

  // Grids: 10 rows (digits) of 2 samples, and 2 x (originals + reconstructions) rows of 8 digits of 28 px.
  const samples = decodeImage(readFileSync(join(out, 'samples.png')), 'keep');
  expect([samples.width, samples.height]).toEqual([2 + 2 * 30, 2 + 10 * 30]);
  const recon = decodeImage(readFileSync(join(out, 'reconstructions.png')), 'keep');
  expect([recon.width, recon.height]).toEqual([2 + 8 * 30, 2 + 4 * 30]);

  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  for (const k of ['psnr', 'ssim', 'lpips', 'rfid', 'l1', 'mse'])
    expect(finite(m.reconstruction[k]), `reconstruction.${k}`).toBe(true);
  for (const k of ['fid', 'precision', 'recall'])
    expect(finite(m.generation[k]), `generation.${k}`).toBe(true);
  expect(m.reconstruction.count).toBe(16);
  expect(m.generation.count).toBe(16);
  expect(m.smoothness.points.map((p: { eps: number }) => p.eps)).toEqual([0, 0.2]);
  for (const p of m.smoothness.points)
    for (const k of ['rfid', 'psnr', 'ssim']) expect(finite(p[k]), `smoothness.${k}`).toBe(true);
  expect(m.reconstruction.extractor).toBe('nsfwjs-4.4.0-inceptionv3:flatten_1@75');
  expect(m.generation.extractor).toBe(m.reconstruction.extractor);
  expect(m.lpipsNet).toContain('nsfwjs-inceptionv3-early');

  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  expect(cfg).toMatchObject({
    command: 'quickstart',
    options: { aeSteps: 3, ldmSteps: 3 },
    derived: { aeSteps: 3, ldmSteps: 3, evalImages: 16 },
  });
  expect(cfg.runtime.backend).toBe('wasm');

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (const s of [
    'nsfwjs-4.4.0-inceptionv3:flatten_1@75',
    'Latent smoothness',
    'VMAE training loss',
    'LightningDiT training loss',
    'data:image/png;base64,',
    'wasm',
    'Timings',
  ])
    expect(html, s).toContain(s);
  expect((html.match(/<svg/g) ?? []).length).toBe(3);

  // JSON lines: phases and a final result naming the report.
  const lines = r.out.json();
  const ended = lines.filter((l) => l.event === 'phase-end').map((l) => l.phase);
  for (const p of ['train-vmae', 'encode', 'train-ldm', 'sample', 'eval-recon:', 'eval-gen:', 'smoothness:'])
    expect(
      ended.some((e) => e === p || (p.endsWith(':') && String(e).startsWith(p))),
      p,
    ).toBe(true);
  const result = lines.at(-1)!;
  expect(result).toMatchObject({ event: 'result', report: join(out, 'report.html') });

  // The same command again refuses to overwrite; with --resume it keeps the trained models.
  const again = await run(args.filter((a) => a !== '--json'));
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('holds an earlier quickstart run');
  expect(again.stderr).toContain('--resume');
  const resumed = await run([...args.filter((a) => a !== '--json'), '--resume']);
  expect(resumed.code, resumed.stderr).toBe(0);
  expect(resumed.stderr).toContain('train-vmae: done in an earlier run');
  expect(resumed.stderr).toContain('train-ldm: done in an earlier run');
  expect(resumed.stdout).toContain('report:');
});
