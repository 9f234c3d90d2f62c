/**
 * `ldmae convert` on a zip bomb: a 3 MB .pth whose three unused records each inflate to 1 GiB converts
 * without inflating them (process RSS measured).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTensorFile, readZip, serializePth, setupBackend } from '@ldmae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { deflatedZeros, rawZip, stored } from '../../io/test/zip-bombs.js';
import { run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('convert on hostile zip archives', () => {
  it('converts a .pth with three unused 1 GiB entries without inflating them', async () => {
    const dir = tempDir();
    const pth = serializePth({ w: { dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, 3) } });
    const gib = deflatedZeros(1024);
    const entries = [...readZip(pth, 'pth')].map(([name, data]) => stored(name, data.slice()));
    const bombs = ['archive/data/7', 'archive/data/8', 'archive/notes'].map((name) => ({
      name,
      method: 8 as const,
      ...gib,
    }));
    const file = join(dir, 'bomb.pth');
    writeFileSync(file, rawZip([...entries, ...bombs]));
    const rss0 = process.memoryUsage().rss;
    const peak0 = process.resourceUsage().maxRSS * 1024;
    const r = await run(['convert', file, join(dir, 'out.safetensors')]);
    const rss = process.memoryUsage().rss - rss0;
    const peak = process.resourceUsage().maxRSS * 1024 - Math.max(peak0, rss0);
    console.log(
      `ldmae convert bomb.pth: RSS +${(rss / 1e6).toFixed(0)} MB, peak +${(peak / 1e6).toFixed(0)} MB`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(rss).toBeLessThan(300e6);
    expect(peak).toBeLessThan(300e6);
    const back = await readTensorFile(join(dir, 'out.safetensors'));
    expect(Array.from(back.tensors.w.data as Float32Array)).toEqual([1, 2, 3]);
  });
});
