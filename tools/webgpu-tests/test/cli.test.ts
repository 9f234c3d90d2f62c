/**
 * `ldmae --backend webgpu`: the command runs on WebGPU and the adapter is named in its result and in
 * the config.json it writes (the runtime record of every command).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@ldmae/cli';
import { afterAll, describe, expect, it } from 'vitest';
import { probeWebGPU } from './availability.js';

const { reason, adapter } = await probeWebGPU();
const dir = mkdtempSync(join(tmpdir(), 'ldmae-webgpu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run `ldmae ...args` in-process; returns the exit code and what it wrote. */
async function ldmae(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

describe.skipIf(reason !== null)('ldmae --backend webgpu', () => {
  it('info names the adapter', async () => {
    const r = await ldmae(['info', '--json', '--backend', 'webgpu']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
    expect(result).toMatchObject({ event: 'result', backend: 'webgpu' });
    expect(result.adapter).toContain(adapter);
  });

  it('train-ae trains on WebGPU and records the adapter in config.json', async () => {
    const out = join(dir, 'ae');
    const r = await ldmae([
      'train-ae',
      '--backend',
      'webgpu',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.runtime.backend).toBe('webgpu');
    expect(config.runtime.adapter).toContain(adapter);
  });
});
