import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeNpy, serializeNpz } from '@ldmae/core';
import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { arrays, arraysFile, idx, readIdx, readIdxFile, writeIdx } from '../src/index.node.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();

describe('IDX', () => {
  const images = new Uint8Array(3 * 4 * 5).map((_, i) => (i * 7) % 256);
  const labels = new Uint8Array([2, 0, 1]);

  it('writes the standard header and reads back plain and gzipped files', async () => {
    const bytes = writeIdx({ dtype: 'uint8', shape: [3, 4, 5], data: images });
    expect(Array.from(bytes.subarray(0, 16))).toEqual([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
    writeFileSync(join(tmp.dir, 'img.idx'), bytes);
    writeFileSync(join(tmp.dir, 'img.idx.gz'), gzipSync(bytes));
    writeFileSync(
      join(tmp.dir, 'lab.idx.gz'),
      gzipSync(writeIdx({ dtype: 'uint8', shape: [3], data: labels })),
    );
    for (const name of ['img.idx', 'img.idx.gz']) {
      const ds = await idx(join(tmp.dir, name), { labels: join(tmp.dir, 'lab.idx.gz') });
      expect(ds.shape).toEqual([3, 4, 5, 1]);
      expect(Array.from(ds.getSync(1).image.data)).toEqual(Array.from(images.subarray(20, 40)));
      expect(Array.from(ds.labels!)).toEqual([2, 0, 1]);
    }
  });

  it('round-trips big-endian int32 and float32 arrays', () => {
    const i32 = Int32Array.from([-5, 70000, 3]);
    const back = readIdx(writeIdx({ dtype: 'int32', shape: [3], data: i32 }));
    expect(back.dtype).toBe('int32');
    expect(Array.from(back.data as Int32Array)).toEqual([-5, 70000, 3]);
    const bytes = writeIdx({ dtype: 'float32', shape: [2, 1], data: Float32Array.from([1.5, -2.25]) });
    expect(Array.from(bytes.subarray(12, 16))).toEqual([0x3f, 0xc0, 0, 0]); // 1.5, big-endian
    expect(Array.from(readIdx(bytes).data as Float32Array)).toEqual([1.5, -2.25]);
  });

  it('rejects bad files and mismatched label counts with clear errors', async () => {
    writeFileSync(join(tmp.dir, 'bad.idx'), Uint8Array.from([1, 2, 3, 4, 5]));
    await expect(readIdxFile(join(tmp.dir, 'bad.idx'))).rejects.toThrow(/bad\.idx is not an IDX file/);
    const short = writeIdx({ dtype: 'uint8', shape: [3, 4, 5], data: images }).subarray(0, 30);
    expect(() => readIdx(short, 'short.idx')).toThrow(/short\.idx has 14 data bytes/);
    writeFileSync(
      join(tmp.dir, 'lab2.idx'),
      writeIdx({ dtype: 'uint8', shape: [2], data: labels.subarray(0, 2) }),
    );
    await expect(idx(join(tmp.dir, 'img.idx'), { labels: join(tmp.dir, 'lab2.idx') })).rejects.toThrow(
      /expected \[3\]/,
    );
    await expect(idx(join(tmp.dir, 'missing.idx'))).rejects.toThrow(/cannot read .*missing\.idx/);
  });
});

describe('arrays (npy / npz)', () => {
  it('reads NHWC uint8 images with labels from an npz file', async () => {
    const data = new Uint8Array(2 * 2 * 3 * 3).map((_, i) => i);
    const npz = serializeNpz({
      x: { dtype: 'uint8', shape: [2, 2, 3, 3], data },
      y: { dtype: 'int64', shape: [2], data: BigInt64Array.from([7n, 3n]) },
    });
    writeFileSync(join(tmp.dir, 'a.npz'), npz);
    const ds = await arraysFile(join(tmp.dir, 'a.npz'));
    expect(ds.shape).toEqual([2, 2, 3, 3]);
    expect(Array.from(ds.labels!)).toEqual([7, 3]);
    expect(Array.from(ds.getSync(1).image.data)).toEqual(Array.from(data.subarray(18)));
  });

  it('transposes NCHW and maps float ranges to [-1, 1]', () => {
    // one image, 3 channels, 1x2 pixels: channel planes [0, 1], [2, 3], [4, 5] (values / 5 in [0, 1])
    const f = Float32Array.from([0, 1, 2, 3, 4, 5].map((v) => v / 5));
    const ds = arrays({ dtype: 'float32', shape: [1, 3, 1, 2], data: f });
    expect(ds.shape).toEqual([1, 1, 2, 3]);
    const got = Array.from(ds.getSync(0).image.data);
    const want = [0, 2, 4, 1, 3, 5].map((v) => (2 * v) / 5 - 1);
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(want[i], 6);
    });
    const grey = arrays(
      { dtype: 'float64', shape: [1, 1, 2], data: Float64Array.from([0, 255]) },
      { range: [0, 255] },
    );
    expect(Array.from(grey.getSync(0).image.data)).toEqual([-1, 1]);
  });

  it('reads an .npy file of grey images', async () => {
    writeFileSync(
      join(tmp.dir, 'g.npy'),
      serializeNpy({ dtype: 'uint8', shape: [2, 2, 2], data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }),
    );
    const ds = await arraysFile(join(tmp.dir, 'g.npy'));
    expect(ds.shape).toEqual([2, 2, 2, 1]);
    expect(ds.labels).toBeNull();
  });

  it('fails clearly on mismatched shapes and bad values', () => {
    const images = { dtype: 'uint8' as const, shape: [2, 2, 2], data: new Uint8Array(8) };
    expect(() => arrays({ images, labels: { dtype: 'int32', shape: [3], data: new Int32Array(3) } })).toThrow(
      /labels have shape \[3\], expected \[2\]/,
    );
    expect(() => arrays({ dtype: 'int32', shape: [1, 1, 1], data: Int32Array.from([300]) })).toThrow(
      /0\.\.255/,
    );
    expect(() => arrays({ dtype: 'uint8', shape: [1, 5, 5, 5], data: new Uint8Array(125) })).toThrow(
      /layout/,
    );
    expect(() => arrays({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(4) })).toThrow(/\[N,H,W\]/);
    expect(() => arrays({ other: images }, { imagesKey: 'nope' })).toThrow(/no images array/);
  });
});
