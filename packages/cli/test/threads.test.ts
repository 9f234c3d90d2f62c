/**
 * `--threads` and `--xnnpack-threads` in separate `ldmae` processes (the wasm backend's thread counts
 * are fixed per process): `info` reports the counts asked for, and a count below 1 is a usage error. Runs src/bin.ts with tsx
 * against the built workspace packages (the test target builds them first).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'src', 'bin.ts');

function ldmae(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const result = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((j) => j.event === 'result');

it('--threads and --xnnpack-threads set the wasm threads, and info reports them', async () => {
  const [one, two, split, zero, zeroX] = await Promise.all([
    ldmae(['info', '--backend', 'wasm', '--threads', '1', '--json']),
    ldmae(['info', '--backend', 'wasm', '--threads', '2', '--xnnpack-threads', '2', '--json']),
    ldmae(['info', '--backend', 'wasm', '--threads', '2', '--xnnpack-threads', '1']),
    ldmae(['info', '--backend', 'wasm', '--threads', '0']),
    ldmae(['info', '--backend', 'wasm', '--xnnpack-threads', '0']),
  ]);
  expect(one.code, one.stderr).toBe(0);
  expect(result(one.stdout)).toMatchObject({ backend: 'wasm', threads: 1, xnnpackThreads: 1 });
  expect(two.code, two.stderr).toBe(0);
  expect(result(two.stdout)).toMatchObject({ backend: 'wasm', threads: 2, xnnpackThreads: 2 });
  expect(split.code, split.stderr).toBe(0);
  expect(split.stdout).toMatch(/threads {3}2 \(XNNPACK's pool: 1\)/);
  expect(zero.code).toBe(2);
  expect(zero.stderr).toMatch(/--threads.*>= 1/);
  expect(zeroX.code).toBe(2);
  expect(zeroX.stderr).toMatch(/--xnnpack-threads.*>= 1/);
});
