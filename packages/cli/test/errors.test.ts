import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { createVMAE, saveVMAE } from '@ldmae/vmae';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeResolvedConfig } from '../src/config.js';
import { resumeCommand } from '../src/errors.js';
import { checkResumeOptions } from '../src/steps/checkpoints.js';
import { run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('bad options', () => {
  it.each([
    ['an unknown option exits 2 and names it', ['train-ae', '--bogus', '3'], "unknown option '--bogus'"],
    [
      'a value of the wrong type exits 2 and says what was expected',
      ['train-ae', '--steps', 'many'],
      /--steps <n>.*expected an integer, got "many"/s,
    ],
    [
      'a value below the minimum exits 2 and says what was expected',
      ['train-ldm', '--lr', '-1'],
      'expected a value >= 0, got -1',
    ],
    [
      'a value outside the choices exits 2 and lists them',
      ['train-ae', '--model', 'gan'],
      "expected one of vmae, ae, dae, vae, sd-vae, got 'gan'",
    ],
    ['an unknown command exits 2', ['trian-ae'], "unknown command 'trian-ae'"],
  ] as const)('%s', async (_, argv, expected) => {
    const r = await run([...argv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(expected);
  });

  it('an impossible combination exits 2 before any work', async () => {
    const out = tempDir();
    const r = await run(['train-ae', '--resume', '--overwrite', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--resume and --overwrite cannot be used together');
    const r2 = await run(['train-ae', '--model', 'vmae', '--preset', 'f8d4-tiny', '--out', out]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("--preset 'f8d4-tiny' is not a vmae preset");
    expect(r2.stderr).toContain('f4d4-tiny');
    const r3 = await run(['train-ae', '--model', 'vae', '--preset', 'tiny', '--out', out]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain("--preset 'tiny' is not a vae preset");
    expect(r3.stderr).toContain('vae presets: sd3-f8d16, sd-f8d4, f4d4-tiny, f8d4-tiny, f4d4-micro');
  });

  it('a former baseline preset name is taken as its current name, with a warning', async () => {
    const out = tempDir();
    // The bad data path stops the run right after the options are checked.
    const r = await run([
      'train-ae',
      '--model',
      'ae',
      '--preset',
      'tiny-f4d4',
      '--data',
      '/no/such/folder',
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "warning: --preset 'tiny-f4d4' is the former name of 'f4d4-tiny'; use 'f4d4-tiny'",
    );
    expect(r.stderr).not.toContain('is not a ae preset');
    expect(r.stderr).toContain("'/no/such/folder'");
  });

  it('--resume of a run recorded under a former preset name is not refused for it', async () => {
    const out = tempDir();
    await writeResolvedConfig(out, 'train-ae', { model: 'vae', preset: 'tiny-f4d4', lr: 0.002 });
    expect(await checkResumeOptions(out, { model: 'vae', preset: 'f4d4-tiny', lr: 0.002 }, false)).toEqual(
      [],
    );
    await expect(
      checkResumeOptions(out, { model: 'vae', preset: 'f8d4-tiny', lr: 0.002 }, false),
    ).rejects.toThrow(/--preset: "tiny-f4d4" in the run, "f8d4-tiny" now/);
  });

  it('a missing data path exits 2 and names it', async () => {
    const r = await run(['train-ae', '--data', '/no/such/folder', '--out', tempDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'/no/such/folder' is neither a known data set nor an existing path");
  });
});

describe('config files', () => {
  it('a key that is no option, or a value of the wrong type, exits 2 naming the key', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ stepz: 3 }));
    const r = await run(['train-ae', '--config', join(dir, 'a.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("sets 'stepz', which is not an option of 'train-ae'");
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ steps: 2.5 }));
    const r2 = await run(['train-ae', '--config', join(dir, 'b.json')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("key 'steps': expected an integer, got 2.5");
    writeFileSync(join(dir, 'c.json'), '{ not json');
    const r3 = await run(['train-ae', '--config', join(dir, 'c.json')]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('is not valid JSON');
  });
});

describe('missing and corrupt inputs', () => {
  it('a missing autoencoder says how to make one', async () => {
    const r = await run(['reconstruct', '--ae', '/no/such/ae.safetensors', '--out', tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--ae: '/no/such/ae.safetensors' does not exist");
    expect(r.stderr).toContain('ldmae train-ae');
  });

  it('a corrupt checkpoint is refused with the path and a hint, and nothing is written', async () => {
    const dir = tempDir();
    const good = join(dir, 'vmae.safetensors');
    const model = createVMAE('f4d4-tiny', { imgSize: 28 });
    await saveVMAE(good, model);
    model.dispose();
    const bytes = readFileSync(good);
    // Flip one byte in the middle of the weights: the checksum catches it.
    const flipped = join(dir, 'flipped.safetensors');
    const copy = Buffer.from(bytes);
    copy[copy.length >> 1] ^= 0xff;
    writeFileSync(flipped, copy);
    // Cut the file short, as an interrupted copy would.
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes);
    truncateSync(cut, bytes.length - 100);
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'this is not a checkpoint');
    for (const bad of [flipped, cut, garbage]) {
      const out = join(dir, `out-${bad.length}`);
      const r = await run(['reconstruct', '--ae', bad, '--out', out]);
      expect(r.code, bad).toBe(1);
      expect(r.stderr).toContain(`cannot load an autoencoder from '${bad}'`);
      expect(r.stderr).toMatch(/corrupt|retrain/);
    }
    // The intact file loads, and a line per phase is printed when stderr is not a terminal.
    const ok = await run(['reconstruct', '--ae', good, '--n', '4', '--out', join(dir, 'ok')]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/^reconstruct: 4\/4 images in [\d.]+ s/);
    expect(existsSync(join(dir, 'ok', 'reconstructions.png'))).toBe(true);
    expect(existsSync(join(dir, 'ok', 'config.json'))).toBe(true);
  });

  it('a corrupt diffusion checkpoint is refused', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'ckpt'));
    writeFileSync(
      join(dir, 'ckpt', 'meta.json'),
      '{"format": "ldmae-checkpoint", "weights": "model.safetensors"}',
    );
    const r = await run(['sample', '--ldm', join(dir, 'ckpt'), '--out', join(dir, 'o')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--ldm: cannot read the checkpoint '${join(dir, 'ckpt')}'`);
  });
});

it('resume hints quote what the shell needs', () => {
  expect(resumeCommand(['quickstart', '--out', 'my dir'])).toBe("ldmae quickstart --out 'my dir' --resume");
  expect(resumeCommand(['train-ae', '--resume'])).toBe('ldmae train-ae --resume');
});
