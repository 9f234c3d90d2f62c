import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { Image } from '../src/index.js';

/** A fresh temporary folder, removed after the tests of the file that makes it. */
export function tempDir(prefix = 'ldmae-data-'): { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { dir };
}

/** A deterministic byte image whose pixels depend on (y, x, c, seed). */
export function patternImage(height: number, width: number, channels: number, seed = 0): Image {
  const data = new Uint8Array(height * width * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++)
        data[(y * width + x) * channels + c] = (y * 37 + x * 11 + c * 71 + seed * 13) % 256;
  return { data, height, width, channels };
}

/** Image from nested rows of single-channel values. */
export function grey(rows: number[][], float = false): Image {
  const height = rows.length;
  const width = rows[0].length;
  const flat = rows.flat();
  return { data: float ? Float32Array.from(flat) : Uint8Array.from(flat), height, width, channels: 1 };
}
