/**
 * Ctrl-C for real: a SIGINT sent to a separate `ldmae` process while it trains. The training loop's
 * awaits settle as microtasks, so without the CLI's yields between steps the signal would only be seen
 * when the run ended. Runs src/bin.ts with tsx against the built workspace packages (the test target
 * builds them first).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const BIN = join(import.meta.dirname, '..', 'src', 'bin.ts');

it('SIGINT during training stops within a step or two, saves the checkpoint, exits 130 with the resume command', async () => {
  const out = join(tempDir(), 'run');
  const args = [
    'train-ae',
    '--steps',
    '1000',
    '--batch-size',
    '8',
    '--checkpoint-every',
    '1000',
    '--out',
    out,
    '--json',
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
    cwd: join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let sentAt = 0;
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!sentAt && stdout.includes('"event":"progress"')) {
      sentAt = performance.now();
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const stoppedAfter = (performance.now() - sentAt) / 1000;
  expect(code, stderr).toBe(130);
  const lines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const error = lines.at(-1);
  expect(error.event).toBe('error');
  expect(error.message).toMatch(/train-ae interrupted at step (\d+) of 1000/);
  expect(error.hint).toBe(`resume with: ldmae ${args.join(' ')} --resume`);
  const step = Number(/at step (\d+)/.exec(error.message)![1]);
  expect(step).toBeLessThan(200);
  expect(stoppedAfter).toBeLessThan(30);
  const meta = JSON.parse(readFileSync(join(out, 'checkpoint', 'meta.json'), 'utf8'));
  expect(Number(meta.metadata.step)).toBe(step);
  expect(existsSync(join(out, 'autoencoder.safetensors'))).toBe(false);
});
