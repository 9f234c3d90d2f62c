/**
 * Hostile image files, made here (a few hundred bytes each): a PNG and a JPEG whose headers claim
 * 30000 x 30000, PNGs whose pixel data is cut short or too long (valid CRCs, IEND present). They are
 * refused before anything large is allocated (process RSS measured), with errors naming the file and
 * the limit; good files, interlaced and at other bit depths, still decode.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { setupBackend } from '@ldmae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM7, checkImageBytes } from '../src/codecs/limits.js';
import {
  DataError,
  DataLoader,
  DEFAULT_MAX_PIXELS,
  datasetFromSpec,
  decodeImage,
  encodeJpeg,
  encodePng,
  imageFolder,
  readImage,
  readImageHeader,
  writePng,
} from '../src/index.node.js';
import { patternImage, tempDir } from './helpers.js';

const tmp = tempDir();
beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const MB = 1e6;
const SIDE = 30000;

function chunk(type: string, body: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + body.length);
  b.writeUInt32BE(body.length, 0);
  b.write(type, 4, 'latin1');
  b.set(body, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + body.length)) >>> 0, 8 + body.length);
  return b;
}

/** A PNG with valid CRCs from IHDR fields and raw (filtered) scanlines, deflated whole or as given. */
function png(
  ihdr: { width: number; height: number; depth: number; colorType: number; interlace?: number },
  idat: Uint8Array,
  extra: Buffer[] = [],
): Uint8Array {
  const h = Buffer.alloc(13);
  h.writeUInt32BE(ihdr.width, 0);
  h.writeUInt32BE(ihdr.height, 4);
  h[8] = ihdr.depth;
  h[9] = ihdr.colorType;
  h[12] = ihdr.interlace ?? 0;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(
    Buffer.concat([sig, chunk('IHDR', h), ...extra, chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]),
  );
}

/** A JPEG whose frame header is patched to claim `height` x `width`. */
function jpegClaiming(height: number, width: number): Uint8Array {
  const j = Buffer.from(encodeJpeg(patternImage(8, 8, 3)));
  for (let i = 2; i < j.length; ) {
    const marker = j[i + 1];
    if (marker === 0xc0) {
      j.writeUInt16BE(height, i + 5);
      j.writeUInt16BE(width, i + 7);
      return new Uint8Array(j);
    }
    i += 2 + j.readUInt16BE(i + 2);
  }
  throw new Error('no SOF0');
}

function caught(fn: () => unknown): Error | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e as Error;
  }
}

/** Run `fn` and report how much the process's memory grew: RSS after it, and the peak RSS. */
function measureRss<T>(fn: () => T): { result: T; rssGrowth: number; peakGrowth: number } {
  const rss0 = process.memoryUsage().rss;
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const result = fn();
  return {
    result,
    rssGrowth: process.memoryUsage().rss - rss0,
    peakGrowth: process.resourceUsage().maxRSS * 1024 - Math.max(peak0, rss0),
  };
}

const limitText = `above the decode limit of 67.1 megapixels \\(8192 x 8192\\); raise it with maxPixels`;

describe('decode limit (maxPixels)', () => {
  // 30000 x 30000 RGB whose IDAT holds one filtered row of zeros: 2.7 GB once decoded.
  const bomb = png(
    { width: SIDE, height: SIDE, depth: 8, colorType: 2 },
    deflateSync(new Uint8Array(1 + 3 * 8)),
  );

  it('a small PNG claiming 30000 x 30000 is refused from its header, naming the file and the limit', () => {
    expect(bomb.length).toBeLessThan(100);
    const t0 = performance.now();
    const m = measureRss(() => caught(() => decodeImage(bomb, 'rgb', 'bomb.png')));
    const ms = performance.now() - t0;
    console.log(
      `PNG 30000 x 30000 (${bomb.length} bytes): refused in ${ms.toFixed(1)} ms, RSS +${(m.rssGrowth / MB).toFixed(0)} MB, peak +${(m.peakGrowth / MB).toFixed(0)} MB`,
    );
    expect(m.result).toBeInstanceOf(DataError);
    expect((m.result as DataError).file).toBe('bomb.png');
    expect(m.result?.message).toMatch(
      new RegExp(
        `^decodeImage: 'bomb\\.png': image is 30000 x 30000 \\(900\\.0 megapixels\\), ${limitText}$`,
      ),
    );
    expect(m.rssGrowth).toBeLessThan(300 * MB);
    expect(m.peakGrowth).toBeLessThan(300 * MB);
    expect(ms).toBeLessThan(2000);
    expect(DEFAULT_MAX_PIXELS).toBe(8192 * 8192);
    expect(readImageHeader(bomb)).toEqual({
      format: 'png',
      width: SIDE,
      height: SIDE,
      channels: 3,
      bitDepth: 8,
      interlaced: false,
    });
  });

  it('a JPEG claiming 30000 x 30000 gets the same words; jpeg-js itself never sees it', () => {
    const bomb = jpegClaiming(SIDE, SIDE);
    expect(readImageHeader(bomb)).toMatchObject({ format: 'jpeg', width: SIDE, height: SIDE, channels: 3 });
    const m = measureRss(() => caught(() => decodeImage(bomb, 'rgb', 'bomb.jpg')));
    console.log(
      `JPEG 30000 x 30000 (${bomb.length} bytes): RSS +${(m.rssGrowth / MB).toFixed(0)} MB, peak +${(m.peakGrowth / MB).toFixed(0)} MB`,
    );
    expect(m.result).toBeInstanceOf(DataError);
    expect(m.result?.message).toMatch(
      new RegExp(
        `^decodeImage: 'bomb\\.jpg': image is 30000 x 30000 \\(900\\.0 megapixels\\), ${limitText}$`,
      ),
    );
    expect(m.rssGrowth).toBeLessThan(300 * MB);
    // Between 67 MP and jpeg-js's own default of 100 MP: our limit, our words (not jpeg-js's).
    expect(() => decodeImage(jpegClaiming(9000, 9000), 'rgb', 'big.jpg')).toThrow(
      new RegExp(`'big\\.jpg': image is 9000 x 9000 \\(81\\.0 megapixels\\), ${limitText}`),
    );
  });

  it('maxPixels is settable; PNG, JPEG and the browser check word it the same', () => {
    const p = encodePng(patternImage(40, 30, 3));
    const j = encodeJpeg(patternImage(40, 30, 3));
    const pe = caught(() => decodeImage(p, 'rgb', 'f', { maxPixels: 1000 }));
    const je = caught(() => decodeImage(j, 'rgb', 'f', { maxPixels: 1000 }));
    expect(pe?.message).toBe(
      "decodeImage: 'f': image is 30 x 40 (1200 pixels), above the decode limit of 1000 pixels; raise it with maxPixels",
    );
    expect(je?.message).toBe(pe?.message);
    const be = caught(() => checkImageBytes(p, 1000, 'f', 'decodeImageBrowser'));
    expect(be?.message).toBe(pe?.message?.replace('decodeImage', 'decodeImageBrowser'));
    expect(decodeImage(p, 'rgb', 'f', { maxPixels: 1200 }).width).toBe(30);
    expect(() => decodeImage(p, 'rgb', 'f', { maxPixels: 0 })).toThrow(
      /decodeImage: maxPixels must be a number > 0 \(Infinity for no limit\), got 0/,
    );
  });

  it('readImage and imageFolder apply the limit: the file is named, skipped with onError: skip, and workers keep it', async () => {
    const dir = join(tmp.dir, 'bombs');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    for (let i = 0; i < 3; i++) await writePng(join(dir, `${i}.png`), patternImage(4, 4, 3, i));
    writeFileSync(join(dir, '1.png'), bomb);
    await expect(readImage(join(dir, '1.png'))).rejects.toThrow(/1\.png': image is 30000 x 30000/);
    await expect(readImage(join(dir, '0.png'), 'rgb', { maxPixels: 4 })).rejects.toThrow(
      /0\.png': image is 4 x 4 \(16 pixels\), above the decode limit of 4 pixels \(2 x 2\)/,
    );
    expect((await readImage(join(dir, '0.png'))).width).toBe(4);
    const strict = await imageFolder(dir);
    expect(strict.maxPixels).toBe(DEFAULT_MAX_PIXELS);
    const rss0 = process.memoryUsage().rss;
    await expect(new DataLoader(strict, { batchSize: 3, shuffle: false }).next()).rejects.toThrow(
      new RegExp(`1\\.png': image is 30000 x 30000 \\(900\\.0 megapixels\\), ${limitText}`),
    );
    const lenient = await imageFolder(dir, { onError: 'skip' });
    const b = await new DataLoader(lenient, { batchSize: 3, shuffle: false }).next();
    const grew = process.memoryUsage().rss - rss0;
    console.log(`imageFolder with a 30000 x 30000 PNG: RSS +${(grew / MB).toFixed(0)} MB`);
    expect(grew).toBeLessThan(300 * MB);
    expect(Array.from(b.indices)).toEqual([0, 2]);
    expect(b.skipped.map((x) => x.file)).toEqual([join(dir, '1.png')]);
    b.images.dispose();
    // A lower limit travels to worker threads with the spec.
    const small = await imageFolder(dir, { maxPixels: 20, onError: 'skip' });
    const spec = small.toSpec();
    expect(spec).toMatchObject({ kind: 'files', maxPixels: 20 });
    expect((datasetFromSpec(spec!) as typeof small).maxPixels).toBe(20);
    const viaWorker = new DataLoader(small, { batchSize: 3, shuffle: false, workers: 1 });
    try {
      const w = await viaWorker.nextData();
      expect(Array.from(w.indices)).toEqual([0, 2]);
      expect(w.skipped.map((x) => x.file)).toEqual([join(dir, '1.png')]);
    } finally {
      await viaWorker.close();
    }
    // Custom decoders are guarded by the header check too.
    const custom = await imageFolder(dir, { decode: () => patternImage(4, 4, 3) });
    await expect(custom.get(1)).rejects.toThrow(/imageFolder: '.*1\.png': image is 30000 x 30000/);
    expect((await custom.get(0)).image.width).toBe(4);
  });
});

/** Raw scanlines (filter byte 0 + packed samples) of an image `rows` of samples, for a PNG's IDAT. */
function scanlines(rows: number[][], depth: number): Uint8Array {
  const out: number[] = [];
  for (const row of rows) {
    out.push(0);
    if (depth === 16) for (const v of row) out.push(v >> 8, v & 255);
    else if (depth === 8) out.push(...row);
    else {
      const perByte = 8 / depth;
      for (let i = 0; i < row.length; i += perByte) {
        let byte = 0;
        for (let k = 0; k < perByte; k++) byte |= (row[i + k] ?? 0) << (8 - depth * (k + 1));
        out.push(byte);
      }
    }
  }
  return Uint8Array.from(out);
}

/** Adam7 passes of a width x height image of samples per pixel `spp` (sample(x, y, c)), as raw scanlines. */
function adam7(
  width: number,
  height: number,
  spp: number,
  depth: number,
  sample: (x: number, y: number, c: number) => number,
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of ADAM7) {
    const rows: number[][] = [];
    for (let y = y0; y < height; y += dy) {
      const row: number[] = [];
      for (let x = x0; x < width; x += dx) for (let c = 0; c < spp; c++) row.push(sample(x, y, c));
      if (row.length) rows.push(row);
    }
    if (rows.length) parts.push(scanlines(rows, depth));
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('PNG pixel data checked against IHDR', () => {
  const W = 16;
  const H = 12;
  const rows = Array.from({ length: H }, (_, y) =>
    Array.from({ length: W * 3 }, (_, i) => (y * 31 + i * 7) & 255),
  );
  const raw = scanlines(rows, 8);
  const ihdr = { width: W, height: H, depth: 8, colorType: 2 };

  it('decodes the complete file (the control)', () => {
    const im = decodeImage(png(ihdr, deflateSync(raw)), 'rgb', 'ok.png');
    expect(Array.from(im.data.subarray(0, 6))).toEqual(rows[0].slice(0, 6));
    expect(Array.from(im.data.subarray(im.data.length - 3))).toEqual(rows[H - 1].slice(-3));
  });

  it('refuses pixel data cut short, naming the file: a complete stream of half the rows, and a cut stream', () => {
    const half = png(ihdr, deflateSync(raw.subarray(0, raw.length / 2)));
    const need = H * (1 + W * 3);
    expect(() => decodeImage(half, 'rgb', 'half.png')).toThrow(
      `decodeImage: 'half.png': PNG pixel data is cut short (it inflates to ${need / 2} bytes; its 16 x 12 header needs ${need})`,
    );
    const z = deflateSync(raw, { level: 0 });
    const cut = png(ihdr, z.subarray(0, z.length - 200));
    const e = caught(() => decodeImage(cut, 'rgb', 'cut.png'));
    expect(e).toBeInstanceOf(DataError);
    expect((e as DataError).file).toBe('cut.png');
    expect(e?.message).toMatch(
      /^decodeImage: 'cut\.png': PNG pixel data is cut short \(it inflates to \d+ bytes; its 16 x 12 header needs 588\)$/,
    );
    // The browser path refuses the same files.
    expect(() => checkImageBytes(half, DEFAULT_MAX_PIXELS, 'half.png', 'decodeImageBrowser')).toThrow(
      /'half\.png': PNG pixel data is cut short/,
    );
    expect(() => checkImageBytes(cut, DEFAULT_MAX_PIXELS, 'cut.png', 'decodeImageBrowser')).toThrow(
      /'cut\.png': PNG pixel data is cut short \(its compressed stream ends early; its 16 x 12 header needs 588\)/,
    );
  });

  it('refuses a PNG whose IHDR cannot be read (its size cannot be checked)', () => {
    const bad = png({ width: 4, height: 4, depth: 8, colorType: 5 }, deflateSync(new Uint8Array(4 * 13)));
    expect(readImageHeader(bad)).toBeNull();
    expect(() => decodeImage(bad, 'rgb', 'bad.png')).toThrow(
      'decodeImage: bad.png is a corrupt or unsupported PNG (no valid IHDR header)',
    );
  });

  it('refuses pixel data longer than IHDR allows, inflating no more than one byte past it', () => {
    const long = png(ihdr, deflateSync(Buffer.concat([raw, raw])));
    expect(() => decodeImage(long, 'rgb', 'long.png')).toThrow(
      "decodeImage: 'long.png': PNG pixel data is longer than its 16 x 12 header allows (more than 588 bytes)",
    );
    expect(() => checkImageBytes(long, DEFAULT_MAX_PIXELS, 'long.png', 'f')).toThrow(
      /longer than its 16 x 12 header/,
    );
    // A 1 GiB deflate bomb in the IDAT of a 64 x 64 image: refused at 64 x 64's size.
    const bombIdat = deflateSync(Buffer.alloc(256 << 20), { level: 9 });
    const idatBomb = png({ width: 64, height: 64, depth: 8, colorType: 2 }, bombIdat);
    const m = measureRss(() => caught(() => decodeImage(idatBomb, 'rgb', 'idat-bomb.png')));
    console.log(
      `PNG with a 256 MiB IDAT stream (${idatBomb.length} bytes): RSS +${(m.rssGrowth / MB).toFixed(0)} MB`,
    );
    expect(m.result?.message).toMatch(
      /'idat-bomb\.png': PNG pixel data is longer than its 64 x 64 header allows/,
    );
    expect(m.rssGrowth).toBeLessThan(100 * MB);
  });

  it('still decodes good files: interlaced, 1-bit grey, 16-bit RGB, palette, grey + alpha', () => {
    const sample = (x: number, y: number, c: number) => (x * 17 + y * 5 + c * 80) & 255;
    const W2 = 11;
    const H2 = 9;
    const inter = png(
      { width: W2, height: H2, depth: 8, colorType: 6, interlace: 1 },
      deflateSync(adam7(W2, H2, 4, 8, sample)),
    );
    const im = decodeImage(inter, 'keep', 'inter.png');
    expect([im.width, im.height, im.channels]).toEqual([W2, H2, 3]);
    for (const [x, y] of [
      [0, 0],
      [10, 8],
      [3, 5],
      [7, 2],
    ])
      expect(Array.from(im.data.subarray(3 * (y * W2 + x), 3 * (y * W2 + x) + 3))).toEqual(
        [0, 1, 2].map((c) => sample(x, y, c)),
      );
    // 1 x 1 interlaced (only the first pass), grey + alpha.
    const one = png(
      { width: 1, height: 1, depth: 8, colorType: 4, interlace: 1 },
      deflateSync(Uint8Array.of(0, 77, 255)),
    );
    expect(Array.from(decodeImage(one, 'keep', 'one.png').data)).toEqual([77]);
    // 1-bit grey, 13 wide (two bytes a row).
    const bits = Array.from({ length: 5 }, (_, y) => Array.from({ length: 13 }, (_, x) => (x + y) % 2));
    const g1 = decodeImage(
      png({ width: 13, height: 5, depth: 1, colorType: 0 }, deflateSync(scanlines(bits, 1))),
      'keep',
      'g1.png',
    );
    expect(Array.from(g1.data.subarray(0, 4))).toEqual([0, 255, 0, 255]);
    // 1-bit interlaced grey, 10 x 3.
    const g1i = png(
      { width: 10, height: 3, depth: 1, colorType: 0, interlace: 1 },
      deflateSync(adam7(10, 3, 1, 1, (x, y) => (x + y) % 2)),
    );
    expect(Array.from(decodeImage(g1i, 'keep', 'g1i.png').data.subarray(0, 4))).toEqual([0, 255, 0, 255]);
    // 16-bit RGB, 3 x 2.
    const rows16 = [
      [0, 65535, 4096, 1, 2, 3, 65535, 0, 0],
      [9, 9, 9, 0, 0, 0, 300, 300, 300],
    ];
    const d16 = decodeImage(
      png({ width: 3, height: 2, depth: 16, colorType: 2 }, deflateSync(scanlines(rows16, 16))),
      'keep',
      'd16.png',
    );
    expect([d16.width, d16.height, d16.channels]).toEqual([3, 2, 3]);
    expect(Array.from(d16.data.subarray(0, 3))).toEqual([0, 255, 16]);
    // 2-bit palette, 6 x 2, with a PLTE of 4 colours.
    const plte = chunk('PLTE', Uint8Array.of(0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255));
    const idx = [
      [0, 1, 2, 3, 0, 1],
      [3, 2, 1, 0, 3, 2],
    ];
    const pal = decodeImage(
      png({ width: 6, height: 2, depth: 2, colorType: 3 }, deflateSync(scanlines(idx, 2)), [plte]),
      'rgb',
      'pal.png',
    );
    expect(Array.from(pal.data.subarray(0, 6))).toEqual([0, 0, 0, 255, 0, 0]);
    // And the encoder's own files, grey and RGB, and JPEGs, round-trip as before.
    const rgb = patternImage(20, 24, 3);
    expect(decodeImage(encodePng(rgb)).data).toEqual(rgb.data);
    const grey = patternImage(7, 5, 1);
    expect(decodeImage(encodePng(grey), 'keep').data).toEqual(grey.data);
    expect(decodeImage(encodeJpeg(rgb)).width).toBe(24);
  });
});
