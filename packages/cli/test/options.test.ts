import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { readResolvedConfig, writeResolvedConfig } from '../src/config.js';
import { addOptions, checkValue, type OptionSpec, resolveOptions } from '../src/options.js';
import { tempDir } from './helpers.js';

const SPECS: OptionSpec[] = [
  { key: 'steps', type: 'int', description: 'steps', default: 10, min: 1 },
  { key: 'lr', type: 'number', description: 'learning rate', default: 0.1 },
  { key: 'eps', type: 'numbers', description: 'ratios', default: [0, 0.5] },
  { key: 'name', type: 'string', description: 'name', default: 'a', choices: ['a', 'b'] },
  { key: 'flip', type: 'boolean', description: 'flip' },
  { key: 'lpips', type: 'boolean', description: 'no lpips', default: true },
  { key: 'config', type: 'path', description: 'config file' },
];

async function resolve(args: string[]) {
  const cmd = addOptions(new Command('t').exitOverride(), SPECS);
  cmd.parse(args, { from: 'user' });
  return resolveOptions(cmd, SPECS);
}

describe('options', () => {
  it('defaults < config file < command line', async () => {
    expect(await resolve([])).toEqual({ steps: 10, lr: 0.1, eps: [0, 0.5], name: 'a', lpips: true });
    const dir = tempDir();
    const file = join(dir, 'c.json');
    writeFileSync(
      file,
      JSON.stringify({
        steps: 20,
        'learning-rate': undefined,
        eps: [1, 2],
        name: 'b',
        flip: true,
        lpips: false,
      }),
    );
    expect(await resolve(['--config', file])).toMatchObject({
      steps: 20,
      eps: [1, 2],
      name: 'b',
      flip: true,
      lpips: false,
    });
    expect(await resolve(['--config', file, '--steps', '30', '--eps', '3,4'])).toMatchObject({
      steps: 30,
      eps: [3, 4],
      name: 'b',
      lpips: false,
    });
    expect(await resolve(['--config', file, '--no-lpips', '--lr', '1e-3'])).toMatchObject({
      lpips: false,
      lr: 1e-3,
    });
  });

  it('a config.json written by a run replays it', async () => {
    const dir = tempDir();
    await writeResolvedConfig(dir, 't', { steps: 7, lr: 0.5, name: 'b', json: true, config: 'x' });
    const doc = await readResolvedConfig(dir);
    expect(doc).toMatchObject({ command: 't', version: '0.1.0', options: { steps: 7, lr: 0.5, name: 'b' } });
    expect(doc?.options).not.toHaveProperty('json');
    expect(await resolve(['--config', join(dir, 'config.json')])).toMatchObject({
      steps: 7,
      lr: 0.5,
      name: 'b',
    });
  });

  it('checks values from strings and JSON alike', () => {
    const int = SPECS[0];
    expect(checkValue(int, '12')).toBe(12);
    expect(checkValue(int, 12)).toBe(12);
    expect(() => checkValue(int, '1.5')).toThrow('expected an integer, got "1.5"');
    expect(() => checkValue(int, 0)).toThrow('expected a value >= 1, got 0');
    expect(() => checkValue(int, '')).toThrow('expected an integer');
    expect(checkValue(SPECS[2], '0, 0.1,0.2')).toEqual([0, 0.1, 0.2]);
    expect(() => checkValue(SPECS[2], 'a,b')).toThrow('expected a finite number, got "a"');
    expect(() => checkValue(SPECS[3], 'c')).toThrow("expected one of a, b, got 'c'");
    expect(() => checkValue(SPECS[4], 'yes')).toThrow('expected true or false');
  });
});
