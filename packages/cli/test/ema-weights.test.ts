/**
 * A small pipeline trained by the CLI on a folder of 16 images, then: which diffusion weights `sample`
 * uses (the EMA average by default, with a warning when it has seen fewer updates than its time
 * constant; the trained weights with `--weights raw`; no warning for an EMA that warmed up),
 * `encode --n`, and a cache whose autoencoder has gone.
 */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { LatentDiffusion } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { pngFolder, run, tempDir } from './helpers.js';

let dir: string;

/** `train-ldm` on the test's cache: 4 steps at EMA decay 0.995 (a time constant of 200 steps). */
const trainLdm = (out: string, ...extra: string[]) => [
  'train-ldm',
  '--latents',
  join(dir, 'lat'),
  '--steps',
  '4',
  '--batch-size',
  '8',
  '--ema',
  '0.995',
  ...extra,
  '--out',
  join(dir, out),
];

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tempDir();
  const folder = await pngFolder(dir, 16, 3, 29);
  const steps = [
    [
      'train-ae',
      '--data',
      folder,
      '--split',
      'all',
      '--steps',
      '2',
      '--batch-size',
      '8',
      '--out',
      join(dir, 'ae'),
    ],
    [
      'encode',
      '--ae',
      join(dir, 'ae', 'autoencoder.safetensors'),
      '--data',
      folder,
      '--split',
      'all',
      '--out',
      join(dir, 'lat'),
    ],
    trainLdm('ldm'),
    trainLdm('ldm-warm', '--ema-warmup'),
  ];
  for (const args of steps) {
    const r = await run(args);
    expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
  }
});

const sample = (ldm: string, out: string, extra: string[] = [], part = 'checkpoint') =>
  run([
    'sample',
    '--ldm',
    join(dir, ldm, part),
    '--per-class',
    '2',
    '--sample-steps',
    '2',
    '--json',
    '--out',
    join(dir, out),
    ...extra,
  ]);

it('warns that a short run’s EMA leans on the initial weights; --weights raw samples the trained ones', async () => {
  const ema = await sample('ldm', 's-ema');
  expect(ema.code, ema.stdout).toBe(0);
  const warn = ema.out.json().find((l) => l.event === 'message' && l.level === 'warn');
  expect(warn?.text).toMatch(
    /the EMA weights have seen 4 updates, fewer than their time constant 1 \/ \(1 - 0\.995\) = 200: .*--weights raw/,
  );
  expect(ema.out.json().at(-1)).toMatchObject({ event: 'result', weights: 'ema' });

  const raw = await sample('ldm', 's-raw', ['--weights', 'raw']);
  expect(raw.code, raw.stdout).toBe(0);
  expect(raw.out.json().some((l) => l.level === 'warn')).toBe(false);
  expect(raw.out.json().at(-1)).toMatchObject({ event: 'result', weights: 'raw' });
  // Same seed, other weights: other samples.
  const a = readFileSync(join(dir, 's-ema', 'samples.npz'));
  const b = readFileSync(join(dir, 's-raw', 'samples.npz'));
  expect(Buffer.compare(a, b)).not.toBe(0);
});

it('train-ldm writes a pipeline folder: sample reads it as its checkpoint, the library loads it', async () => {
  const ema = await sample('ldm', 'p-ema', [], 'pipeline');
  expect(ema.code, ema.stdout).toBe(0);
  expect(ema.out.json().find((l) => l.level === 'warn')?.text).toMatch(/the EMA weights have seen 4 updates/);
  const raw = await sample('ldm', 'p-raw', ['--weights', 'raw'], 'pipeline');
  expect(raw.code, raw.stdout).toBe(0);
  for (const [a, b] of [
    ['p-ema', 's-ema'],
    ['p-raw', 's-raw'],
  ])
    expect(
      Buffer.compare(readFileSync(join(dir, a, 'samples.npz')), readFileSync(join(dir, b, 'samples.npz'))),
    ).toBe(0);
  const card = readFileSync(join(dir, 'ldm', 'pipeline', 'README.md'), 'utf8');
  expect(card).toContain('ldmae train-ldm --latents');
  const before = tf.memory().numTensors;
  const pipe = await LatentDiffusion.load(join(dir, 'ldm', 'pipeline'), {
    autoencoder: { inputRange: 'clamp' },
  });
  expect(pipe.prediction).toBe('velocity');
  const images = await pipe.sample({ n: 2, steps: 2, seed: 1 });
  expect(images.shape).toEqual([2, 16, 16, 3]);
  expect(Array.from(await images.data()).every(Number.isFinite)).toBe(true);
  images.dispose();
  pipe.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('an EMA that warmed up is used without a warning', async () => {
  const warm = await sample('ldm-warm', 's-warm');
  expect(warm.code, warm.stdout).toBe(0);
  expect(warm.out.json().some((l) => l.level === 'warn')).toBe(false);
  expect(warm.out.json().at(-1)).toMatchObject({ event: 'result', weights: 'ema' });
});

it('encode --n encodes only the first n images', async () => {
  const out = join(dir, 'lat-5');
  const args = ['encode', '--ae', join(dir, 'ae', 'autoencoder.safetensors'), '--data', join(dir, 'imgs')];
  const r = await run([...args, '--split', 'all', '--n', '5', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  expect(manifest.count).toBe(5);
  expect(manifest.info.data.description).toContain('the first 5 images');
});

it('encode records the autoencoder by its absolute path; train-ldm trains without it and says so first', async () => {
  const manifestPath = (cache: string) => join(cache, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath(join(dir, 'lat')), 'utf8'));
  expect(isAbsolute(manifest.info.autoencoder)).toBe(true);
  expect(manifest.info.autoencoder).toBe(join(dir, 'ae', 'autoencoder.safetensors'));

  const moved = join(dir, 'lat-moved-ae');
  cpSync(join(dir, 'lat'), moved, { recursive: true });
  manifest.info.autoencoder = join(dir, 'gone', 'autoencoder.safetensors');
  writeFileSync(manifestPath(moved), JSON.stringify(manifest));
  const r = await run([...trainLdm('ldm-no-ae'), '--latents', moved, '--steps', '2', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const lines = r.out.json();
  const warnings = lines.filter((l) => l.level === 'warn').map((l) => String(l.text));
  expect(warnings[0]).toContain("the latent cache's autoencoder");
  expect(warnings[0]).toContain('no pipeline folder will be written');
  // The first warning comes before training starts; the second says what was left out at the end.
  const firstWarn = lines.findIndex((l) => l.level === 'warn');
  expect(firstWarn).toBeLessThan(lines.findIndex((l) => l.event === 'phase-start'));
  expect(warnings[1]).toContain('no pipeline folder written');
  expect(existsSync(join(dir, 'ldm-no-ae', 'checkpoint'))).toBe(true);
  expect(existsSync(join(dir, 'ldm-no-ae', 'pipeline'))).toBe(false);
});
