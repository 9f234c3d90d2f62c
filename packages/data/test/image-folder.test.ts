import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  centerCrop,
  compose,
  DataError,
  DataLoader,
  decodeImage,
  encodeJpeg,
  encodePng,
  imageFolder,
  makeGrid,
  readImage,
  resize,
  saveGrid,
  writeJpeg,
  writePng,
} from '../src/index.node.js';
import { jpegComponents } from '../src/node/codecs.js';
import { patternImage, tempDir } from './helpers.js';

const tmp = tempDir();
beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('PNG / JPEG codecs', () => {
  it('round-trips PNG exactly, RGB and grey, any size', async () => {
    for (const [h, w, c] of [
      [5, 7, 3],
      [9, 4, 1],
      [1, 1, 3],
    ]) {
      const im = patternImage(h, w, c);
      const path = join(tmp.dir, `p${h}x${w}x${c}.png`);
      await writePng(path, im);
      const back = await readImage(path, 'keep');
      expect([back.height, back.width, back.channels]).toEqual([h, w, c]);
      expect(Array.from(back.data)).toEqual(Array.from(im.data));
      // torchvision's loader semantics: 'rgb' repeats a grey channel
      const rgb = decodeImage(encodePng(im), 'rgb');
      expect(rgb.channels).toBe(3);
      if (c === 1) expect(rgb.data[1]).toBe(im.data[0]);
    }
  });

  it('round-trips JPEG within the codec error; detects grey JPEGs', () => {
    // Smooth gradients: JPEG at quality 100 reproduces them within a few levels.
    const smooth = { data: new Uint8Array(16 * 24 * 3), height: 16, width: 24, channels: 3 };
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 24; x++)
        for (let c = 0; c < 3; c++) smooth.data[(y * 24 + x) * 3 + c] = 40 + 5 * x + 3 * y + 20 * c;
    const back = decodeImage(encodeJpeg(smooth, 100), 'keep');
    expect([back.height, back.width, back.channels]).toEqual([16, 24, 3]);
    expect(maxDiff(back.data, smooth.data)).toBeLessThanOrEqual(4);
    // jpeg-js writes 3 components even for grey input; a 1-component header is reported as grey.
    expect(jpegComponents(encodeJpeg(smooth))).toBe(3);
    // SOI, an APP0 segment, then SOF0 with 1 component (precision 8, 2x2): a grey JPEG header.
    const greyHeader = Uint8Array.from([
      0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8, 0, 2, 0, 2, 1, 1, 0x11, 0, 0, 0,
    ]);
    expect(jpegComponents(greyHeader)).toBe(1);
  });

  it('names the file of corrupt or unknown data', () => {
    const png = encodePng(patternImage(8, 8, 3));
    expect(() => decodeImage(png.subarray(0, 40), 'rgb', 'broken.png')).toThrow(DataError);
    expect(() => decodeImage(png.subarray(0, 40), 'rgb', 'broken.png')).toThrow(
      /broken\.png is a corrupt or unsupported PNG/,
    );
    expect(() => decodeImage(Uint8Array.from([1, 2, 3, 4]), 'rgb', 'x.bin')).toThrow(
      /x\.bin is not a PNG or JPEG/,
    );
  });

  it('makes torchvision-style grids and saves them', async () => {
    const ims = [0, 1, 2].map((s) => patternImage(2, 3, 3, s));
    const g = makeGrid(ims, { nrow: 2, padding: 1, padValue: 255 });
    // 2 columns, 2 rows: width 2 * (3 + 1) + 1 = 9, height 2 * (2 + 1) + 1 = 7
    expect([g.height, g.width, g.channels]).toEqual([7, 9, 3]);
    const px = (y: number, x: number) => Array.from(g.data.subarray((y * 9 + x) * 3, (y * 9 + x) * 3 + 3));
    expect(px(0, 0)).toEqual([255, 255, 255]);
    expect(px(1, 1)).toEqual(Array.from(ims[0].data.subarray(0, 3)));
    expect(px(1, 5)).toEqual(Array.from(ims[1].data.subarray(0, 3)));
    expect(px(4, 1)).toEqual(Array.from(ims[2].data.subarray(0, 3)));
    expect(px(4, 5)).toEqual([255, 255, 255]); // empty cell
    const t = tf.tensor4d([-1, 1, 0, 1], [1, 2, 2, 1]);
    const saved = await saveGrid(t, join(tmp.dir, 'grid.png'), { padding: 0 });
    t.dispose();
    expect(Array.from(saved.data)).toEqual([0, 255, 128, 255]);
    expect(Array.from(decodeImage(await readFile(join(tmp.dir, 'grid.png')), 'keep').data)).toEqual([
      0, 255, 128, 255,
    ]);
    expect(() => makeGrid([patternImage(2, 2, 3), patternImage(3, 2, 3)])).toThrow(/same size/);
  });
});

describe('imageFolder', () => {
  const root = join(tmp.dir, 'folder');
  beforeAll(async () => {
    // Classes 'cat' and 'dog' (sorted), nested folders, mixed formats, sizes and colour modes.
    for (const d of ['dog', 'cat', 'cat/inner', 'empty-ish', 'flat'])
      mkdirSync(join(root, d), { recursive: true });
    await writePng(join(root, 'dog', 'b.png'), patternImage(10, 12, 3, 1));
    await writeJpeg(join(root, 'dog', 'a.jpg'), patternImage(20, 16, 3, 2), 95);
    await writePng(join(root, 'cat', 'z.png'), patternImage(8, 8, 1, 3));
    await writePng(join(root, 'cat', 'inner', 'y.PNG'), patternImage(30, 10, 3, 4));
    writeFileSync(join(root, 'cat', 'notes.txt'), 'not an image');
    await writePng(join(root, 'empty-ish', 'e.png'), patternImage(4, 4, 3, 5));
    await writePng(join(root, 'flat', 'one.png'), patternImage(4, 4, 3, 6));
    mkdirSync(join(tmp.dir, 'empty'));
  });

  it('labels by sorted sub-folder names like torchvision ImageFolder', async () => {
    const ds = await imageFolder(root, { classesFromSubdirs: true });
    expect(ds.classes).toEqual(['cat', 'dog', 'empty-ish', 'flat']);
    const rel = ds.files.map((f) => f.slice(root.length + 1));
    expect(rel).toEqual([
      'cat/z.png',
      'cat/inner/y.PNG',
      'dog/a.jpg',
      'dog/b.png',
      'empty-ish/e.png',
      'flat/one.png',
    ]);
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1, 1, 2, 3]);
    const s = await ds.get(0);
    expect([s.image.height, s.image.width, s.image.channels, s.label]).toEqual([8, 8, 3, 0]);
    const jpg = await ds.get(2);
    expect(maxDiff(jpg.image.data, patternImage(20, 16, 3, 2).data)).toBeLessThan(80); // lossy, but the same picture
  });

  it('lists unlabelled files, optionally recursively, and fails on empty folders', async () => {
    const flat = await imageFolder(join(root, 'dog'));
    expect(flat.length).toBe(2);
    expect(flat.labels).toBeNull();
    expect((await imageFolder(join(root, 'cat'))).length).toBe(1);
    expect((await imageFolder(join(root, 'cat'), { recursive: true })).length).toBe(2);
    await expect(imageFolder(join(tmp.dir, 'empty'))).rejects.toThrow(
      /no \.png \/ \.jpg \/ \.jpeg files in .*empty/,
    );
    await expect(imageFolder(join(tmp.dir, 'empty'), { classesFromSubdirs: true })).rejects.toThrow(
      /no sub-folders/,
    );
    await expect(imageFolder(join(tmp.dir, 'nope'))).rejects.toThrow(/is not a folder/);
  });

  it('loads batches with a transform that equalises sizes; mismatched shapes fail clearly', async () => {
    const ds = await imageFolder(root, { classesFromSubdirs: true });
    const loader = new DataLoader(ds, {
      batchSize: 3,
      shuffle: false,
      transform: compose(resize(6), centerCrop(6)),
    });
    const b = await loader.next();
    expect(b.images.shape).toEqual([3, 6, 6, 3]);
    expect(Array.from(b.labels!.dataSync())).toEqual([0, 0, 1]);
    const v = b.images.dataSync();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    tf.dispose([b.images, b.labels!]);
    const raw = new DataLoader(ds, { batchSize: 3, shuffle: false });
    await expect(raw.next()).rejects.toThrow(
      /item 1 \(.*y\.PNG\) is 30x10x3 after the transform but item 0 \(.*z\.png\) is 8x8x3/,
    );
  });

  it('corrupt files: fail naming the file, or are skipped and reported', async () => {
    const dir = join(tmp.dir, 'corrupt');
    mkdirSync(dir);
    for (let i = 0; i < 4; i++) await writePng(join(dir, `${i}.png`), patternImage(4, 4, 3, i));
    writeFileSync(join(dir, '2.png'), encodePng(patternImage(4, 4, 3)).subarray(0, 30));
    const strict = await imageFolder(dir);
    await expect(new DataLoader(strict, { batchSize: 4, shuffle: false }).next()).rejects.toThrow(
      /2\.png is a corrupt/,
    );
    const lenient = await imageFolder(dir, { onError: 'skip' });
    const reported: string[] = [];
    const loader = new DataLoader(lenient, {
      batchSize: 4,
      shuffle: false,
      onSkip: (s) => reported.push(...s.map((x) => x.file!)),
    });
    const b = await loader.next();
    expect(b.images.shape).toEqual([3, 4, 4, 3]);
    expect(Array.from(b.indices)).toEqual([0, 1, 3]);
    expect(b.skipped.map((s) => s.index)).toEqual([2]);
    expect(reported).toEqual([join(dir, '2.png')]);
    b.images.dispose();
    // The same through a worker thread: the error crosses the thread boundary with its file name.
    const viaWorker = new DataLoader(lenient, { batchSize: 4, shuffle: false, workers: 1 });
    try {
      const w = await viaWorker.nextData();
      expect(Array.from(w.indices)).toEqual([0, 1, 3]);
      expect(w.skipped.map((s) => s.file)).toEqual([join(dir, '2.png')]);
    } finally {
      await viaWorker.close();
    }
  });

  it('unreadable files (gone after listing) are DataErrors naming the file', async () => {
    const dir = join(tmp.dir, 'vanishing');
    mkdirSync(dir);
    await writePng(join(dir, 'gone.png'), patternImage(4, 4, 3));
    const ds = await imageFolder(dir);
    rmSync(join(dir, 'gone.png'));
    await expect(ds.get(0)).rejects.toThrow(DataError);
    await expect(ds.get(0)).rejects.toThrow(/cannot read .*gone\.png/);
  });
});
