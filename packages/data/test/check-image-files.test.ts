import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkImageFiles, encodePng, fromImages, imageFolder } from '../src/index.node.js';
import { patternImage, tempDir } from './helpers.js';

const tmp = tempDir();

describe('checkImageFiles', () => {
  const folder = join(tmp.dir, 'imgs');
  mkdirSync(folder);
  for (let i = 0; i < 6; i++) writeFileSync(join(folder, `a${i}.png`), encodePng(patternImage(8, 8, 3, i)));
  const good = readFileSync(join(folder, 'a0.png'));
  writeFileSync(join(folder, 'b-cut.png'), good.subarray(0, good.length - 30));
  writeFileSync(join(folder, 'c-text.png'), 'hello');

  it('lists the files that cannot be used, with their dataset index, and checks every file', async () => {
    const ds = await imageFolder(folder);
    const r = await checkImageFiles(ds);
    expect(r).toMatchObject({ checked: 8, total: 8, complete: true });
    expect(r.bad.map((b) => [b.index, b.file])).toEqual([
      [6, join(folder, 'b-cut.png')],
      [7, join(folder, 'c-text.png')],
    ]);
    expect(r.bad[1].error).toContain(`'${join(folder, 'c-text.png')}' is not a PNG or JPEG file`);
  });

  it('respects the decode limit and stops at its time limit', async () => {
    const small = await imageFolder(folder, { maxPixels: 63 });
    const r = await checkImageFiles(small);
    expect(r.bad.map((b) => b.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.bad[0].error).toMatch(/above the decode limit/);
    const quick = await checkImageFiles(await imageFolder(folder), { seconds: 1e-9 });
    expect(quick.complete).toBe(false);
    expect(quick.checked).toBeLessThan(8);
  });

  it('refuses what is not an image folder and a bad time limit', async () => {
    await expect(checkImageFiles(fromImages([patternImage(8, 8, 3, 0)]) as never)).rejects.toThrow(
      /dataset must be an image folder/,
    );
    await expect(checkImageFiles(await imageFolder(folder), { seconds: 0 })).rejects.toThrow(
      /seconds must be > 0/,
    );
  });
});
