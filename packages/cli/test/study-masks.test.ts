/**
 * `ldmae study --masks`: Fig. 7 against the user's label images. The label image beside each test
 * image is found by its relative path, grey levels and RGB colours become labels, and a missing or
 * mis-sized mask, or --masks without an image folder, is an error that names what is wrong.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setupBackend } from '@ldmae/core';
import { writePng } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadData, subsetData } from '../src/data-source.js';
import { maskedTestImages } from '../src/study/masks.js';
import { pngFolder, run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** Image i's label at pixel k: 3 segments in stripes that move with i. */
const label = (i: number, k: number) => (Math.floor(k / 16) + i) % 3;
const COLOURS = [0x000000, 0xff0000, 0x00ff80];

/** 20 images (pngFolder's) and a mask folder: grey masks (label * 100) for even i, RGB for odd i. */
async function imagesWithMasks(): Promise<{ folder: string; masks: string }> {
  const dir = tempDir();
  const folder = await pngFolder(dir, 20, 7, 13);
  const masks = join(dir, 'masks');
  mkdirSync(masks);
  for (let i = 0; i < 20; i++) {
    const grey = i % 2 === 0;
    const data = new Uint8Array(16 * 16 * (grey ? 1 : 3));
    for (let k = 0; k < 256; k++) {
      if (grey) data[k] = 100 * label(i, k);
      else for (let c = 0; c < 3; c++) data[3 * k + c] = (COLOURS[label(i, k)] >> (16 - 8 * c)) & 255;
    }
    await writePng(join(masks, `img-${i}.png`), { data, height: 16, width: 16, channels: grey ? 1 : 3 });
  }
  return { folder, masks };
}

describe('study --masks', () => {
  it('pairs each test image with its label image; grey levels and colours are labels', async () => {
    const { folder, masks } = await imagesWithMasks();
    const test = await loadData(folder, { split: 'test' });
    const before = tf.memory().numTensors;
    const { images, segmentation } = await maskedTestImages(test, folder, masks, 2);
    expect(images.shape).toEqual([2, 16, 16, 3]);
    expect(segmentation.shape).toEqual([2, 16, 16]);
    expect(segmentation.dtype).toBe('int32');
    const px = await images.data();
    const seg = await segmentation.data();
    // The same seeded choice the function makes, to know which file each row holds.
    const chosen = subsetData(test, 2, '');
    for (let j = 0; j < 2; j++) {
      const file = (await chosen.dataset.get(j)).file as string;
      const i = Number(basename(file).match(/img-(\d+)/)?.[1]);
      for (let k = 0; k < 256; k++) {
        const l = label(i, k);
        expect(seg[j * 256 + k]).toBe(i % 2 === 0 ? 100 * l : COLOURS[l]);
        expect(px[j * 768 + 3 * k]).toBeCloseTo(((3 * k * 7 + i * 13) % 256) / 127.5 - 1, 5);
      }
    }
    tf.dispose([images, segmentation]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the image when its mask is missing, and both files when the sizes differ', async () => {
    const { folder, masks } = await imagesWithMasks();
    const test = await loadData(folder, { split: 'test' });
    const file = (await subsetData(test, 1, '').dataset.get(0)).file as string;
    const mask = join(masks, basename(file));
    await writePng(mask, { data: new Uint8Array(8 * 8), height: 8, width: 8, channels: 1 });
    await expect(maskedTestImages(test, folder, masks, 1)).rejects.toThrow(
      `--masks: '${mask}' is 8 x 8, its image '${file}' is 16 x 16`,
    );
    await expect(maskedTestImages(test, folder, join(masks, 'none'), 1)).rejects.toThrow(
      `--masks: no label image for '${basename(file)}'`,
    );
  });

  it('--masks needs an image folder as --data (exit 2 before any training)', async () => {
    const dir = tempDir();
    const r = await run(['study', '--data', 'mnist', '--masks', dir, '--out', join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--masks needs an image folder as --data, got 'mnist'");
  });
});
