/**
 * What a killed, refused, resumed or out-of-space run leaves behind: nothing of an earlier run is
 * rewritten on refusal, a resume with other options is refused (or recorded), the log holds every step
 * once, a small image folder trains, and a failing save names its file instead of blaming the resume.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setFsStepHook } from '../../io/src/fs-safe.js';
import type { CliError } from '../src/errors.js';
import { jsonlWriter, writeOutput } from '../src/files.js';
import { checkOfflineNetworks } from '../src/steps/evaluate.js';
import { pngFolder, run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const base = (out: string) => [
  'train-ae',
  '--steps',
  '4',
  '--batch-size',
  '4',
  '--checkpoint-every',
  '2',
  '--lr',
  '0.001',
  '--out',
  out,
];

function logSteps(out: string): number[] {
  return readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => typeof l.step === 'number')
    .map((l) => l.step);
}

describe('train-ae runs that are refused, resumed or fail', () => {
  let out: string;

  beforeAll(async () => {
    out = join(tempDir(), 'ae');
    const r = await run(base(out));
    expect(r.code, r.stderr).toBe(0);
  });

  it('a run refused because --out holds an earlier run writes nothing', async () => {
    const cfg = join(out, 'config.json');
    const before = readFileSync(cfg, 'utf8');
    const mtime = statSync(cfg).mtimeMs;
    const r = await run([...base(out).slice(0, -4), '--lr', '0.01', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds the checkpoint of an earlier train-ae run; not overwriting it');
    expect(readFileSync(cfg, 'utf8')).toBe(before);
    expect(statSync(cfg).mtimeMs).toBe(mtime);
  });

  it('--resume with other options is refused listing them; --allow-changes records them', async () => {
    const cfg = readFileSync(join(out, 'config.json'), 'utf8');
    const args = ['train-ae', '--steps', '6', '--batch-size', '8', '--checkpoint-every', '2'];
    const changed = [...args, '--lr', '0.002', '--seed', '5', '--out', out, '--resume'];
    const r = await run(changed);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--resume: the run in ${out} was started with other options:`);
    expect(r.stderr).toContain('--batch-size: 4 in the run, 8 now');
    expect(r.stderr).toContain('--lr: 0.001 in the run, 0.002 now');
    expect(r.stderr).toContain('--seed: 0 in the run, 5 now');
    expect(r.stderr).toContain('--allow-changes');
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(cfg);

    const ok = await run([...changed, '--allow-changes']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/--allow-changes: resuming at step 4 with --batch-size: 4 in the run, 8 now/);
    const lines = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rec = lines.find((l) => l.event === 'resume-with-changes');
    expect(rec).toMatchObject({
      at_step: 4,
      changes: { batchSize: { run: 4, now: 8 }, lr: { run: 0.001, now: 0.002 } },
    });
    expect(logSteps(out)).toEqual([1, 2, 3, 4, 5, 6]);
    // The config now records the options the run continues with.
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).options.batchSize).toBe(8);
  });

  it('after a kill, --resume drops the log lines of the steps it redoes', async () => {
    const dir = join(tempDir(), 'killed');
    const r = await run(base(dir));
    expect(r.code, r.stderr).toBe(0);
    // A run killed at step 7 logged steps 5-7, but its last checkpoint holds step 4 (and a torn line).
    const log = join(dir, 'train-log.jsonl');
    const extra = [5, 6, 7].map((step) => JSON.stringify({ step, loss: 1, lr: 0.001 }));
    writeFileSync(log, `${readFileSync(log, 'utf8')}${extra.join('\n')}\n{"step": 8, "lo`);
    const resumed = await run(['train-ae', ...base(dir).slice(1, 2), '8', ...base(dir).slice(3), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(logSteps(dir)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a full disk while saving after a resume names the file, not the checkpoint it resumed from', async () => {
    const dir = join(tempDir(), 'full');
    expect((await run(base(dir))).code).toBe(0);
    setFsStepHook((action) => {
      if (action === 'write the checkpoint weights')
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(['train-ae', '--steps', '6', ...base(dir).slice(3), '--resume']);
    } finally {
      setFsStepHook(null);
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot write the checkpoint weights '.*checkpoint\/model-\d+\.safetensors': no space left on the device \(ENOSPC\)/,
    );
    expect(r.stderr).not.toContain('cannot resume');
    // The checkpoint it resumed from is intact and resumes.
    const again = await run(['train-ae', '--steps', '6', ...base(dir).slice(3), '--resume']);
    expect(again.code, again.stderr).toBe(0);
  });
});

it('train-ae on a folder of a dozen images trains and writes the reconstruction grid it can', async () => {
  const dir = tempDir();
  const folder = await pngFolder(dir, 12, 7, 31);
  const out = join(dir, 'ae');
  const r = await run(['train-ae', '--data', folder, '--steps', '2', '--batch-size', '4', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  expect(existsSync(join(out, 'reconstructions.png'))).toBe(true);
});

it('bad images in a folder are found before training: named, or left out with --skip-bad-images', async () => {
  const dir = tempDir();
  const folder = await pngFolder(dir, 12, 5, 17);
  writeFileSync(join(folder, 'garbage.png'), 'not an image at all');
  const good = readFileSync(join(folder, 'img-0.png'));
  writeFileSync(join(folder, 'cut.png'), good.subarray(0, good.length - 40));
  const out = join(dir, 'ae');
  const args = ['train-ae', '--data', folder, '--steps', '2', '--batch-size', '4', '--out', out];
  const r = await run(args);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`--data: 2 images in '${folder}' cannot be used:`);
  expect(r.stderr).toContain(join(folder, 'garbage.png'));
  expect(r.stderr).toContain(join(folder, 'cut.png'));
  expect(r.stderr).toContain('--skip-bad-images');
  expect(existsSync(out)).toBe(false);
  const ok = await run([...args, '--skip-bad-images']);
  expect(ok.code, ok.stderr).toBe(0);
  expect(ok.stderr).toMatch(
    /checked 14 of 14 images \(headers and PNG data\) in [\d.]+ s; 2 cannot be used and are left out/,
  );
});

it('convert names the output when it cannot be written there', async () => {
  const dir = tempDir();
  const input = join(dir, 'a.npz');
  const { writeTensorFile } = await import('@ldmae/core');
  await writeTensorFile(input, { w: { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) } });
  const folder = join(dir, 'taken.safetensors');
  mkdirSync(folder);
  const r = await run(['convert', input, folder]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`cannot replace the file '${folder}': it is a folder, not a file (EISDIR)`);
  expect(r.stderr).not.toContain(`cannot convert '${input}'`);
});

it('an --out that is a file, or below one, is named in the error before any work', async () => {
  const dir = tempDir();
  const file = join(dir, 'not-a-folder');
  writeFileSync(file, 'x');
  const r = await run(['train-ae', '--steps', '1', '--batch-size', '4', '--out', file]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`--out: '${file}' is a file; expected a folder`);
  // A folder below a file cannot be created: the error says which and what was being done.
  const below = join(file, 'run');
  await expect(writeOutput(join(below, 'grid.png'), 'png', 'image')).rejects.toThrow(
    `cannot create the output folder '${below}': a part of the path is a file, not a folder (ENOTDIR)`,
  );
  expect(() => jsonlWriter(join(below, 'log.jsonl'))).toThrow(`cannot create the output folder '${below}'`);
});

it('a missing nsfwjs is reported before any work, with the command that installs it', () => {
  expect(() => checkOfflineNetworks('the quickstart’s evaluation')).not.toThrow();
  const missing = () => {
    throw new Error("Cannot find module 'nsfwjs/models/inception_v3'");
  };
  expect(() => checkOfflineNetworks('the quickstart’s evaluation', missing)).toThrow(
    'the quickstart’s evaluation needs the optional package nsfwjs',
  );
  try {
    checkOfflineNetworks('x', missing);
  } catch (e) {
    expect((e as CliError).hint).toBe('install it: npm install nsfwjs@4.4.0 --legacy-peer-deps');
  }
});
