/**
 * Zip bombs in .pth and .npz files: entries nobody needs are never inflated, and the declared sizes of
 * those that are needed are checked against a budget before anything is inflated. Each hostile archive
 * is a few MB on disk; the memory the reader takes is measured as process RSS.
 */
import { deflateSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  convertTensorFile,
  defaultMaxInflatedBytes,
  openZip,
  parseNpz,
  parseTensorFile,
  readZip,
  serializeNpy,
  serializePth,
  TensorFormatError,
} from '../src/index.node.js';
import { deflatedZeros, measureRss, type RawEntry, rawZip, stored } from './zip-bombs.js';

const MB = 1e6;
/** What a call may add to the process's memory while reading a hostile file of a few MB. */
const RSS_BOUND = 300 * MB;
const GIB_OF_ZEROS = deflatedZeros(1024);

function report(what: string, m: { rssGrowth: number; peakGrowth: number }): void {
  console.log(
    `${what}: RSS +${(m.rssGrowth / MB).toFixed(0)} MB, peak RSS +${(m.peakGrowth / MB).toFixed(0)} MB`,
  );
}

/** The entries of a small .pth file (state dict `tensors`), stored as torch.save writes them. */
function pthEntries(tensors: Parameters<typeof serializePth>[0]): RawEntry[] {
  return [...readZip(serializePth(tensors), 'pth')].map(([name, data]) => stored(name, data.slice()));
}

function bomb(name: string): RawEntry {
  return { name, method: 8, ...GIB_OF_ZEROS };
}

describe('zip bombs', () => {
  it('a .pth with three unused 1 GiB entries converts without inflating them', () => {
    const w = Float32Array.of(1, 2, 3, 4);
    const entries = pthEntries({ w: { dtype: 'float32', shape: [4], data: w } });
    const file = rawZip([...entries, bomb('archive/data/99'), bomb('archive/extra/a'), bomb('archive/z')]);
    expect(file.length).toBeLessThan(4 * MB);
    const m = measureRss(() => convertTensorFile(file, 'pth', 'safetensors'));
    report('pth with 3 unused 1 GiB entries', m);
    expect(m.rssGrowth).toBeLessThan(RSS_BOUND);
    expect(m.peakGrowth).toBeLessThan(RSS_BOUND);
    const back = parseTensorFile(m.result, 'safetensors');
    expect(Array.from(back.tensors.w.data as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('a .pth tensor whose 1 GiB storage is outside --select is never read; without select the budget refuses it first', () => {
    // 'ema.w' first holds 123456 floats; its pickle is then patched to claim 2^28 (1 GiB of float32),
    // and its storage record becomes 1 GiB of deflated zeros.
    const entries = pthEntries({
      'model.w': { dtype: 'float32', shape: [2], data: Float32Array.of(5, 6) },
      'ema.w': { dtype: 'float32', shape: [123456], data: new Float32Array(123456) },
    });
    const pkl = entries.find((e) => e.name === 'archive/data.pkl')!;
    const from = [0x4a, ...new Uint8Array(Uint32Array.of(123456).buffer)];
    const to = [0x4a, ...new Uint8Array(Uint32Array.of(2 ** 28).buffer)];
    const patched = pkl.data.slice();
    let hits = 0;
    for (let i = 0; i + 5 <= patched.length; i++) {
      if (from.every((b, j) => patched[i + j] === b)) {
        patched.set(to, i);
        hits++;
      }
    }
    expect(hits).toBe(2); // numel and shape
    const file = rawZip(
      entries.map((e) =>
        e.name === pkl.name ? stored(e.name, patched) : e.name === 'archive/data/1' ? bomb(e.name) : e,
      ),
    );
    const sel = measureRss(() => parseTensorFile(file, 'pth', { select: 'model' }));
    report('pth --select model, 1 GiB ema storage', sel);
    expect(Object.keys(sel.result.tensors)).toEqual(['w']);
    expect(Array.from(sel.result.tensors.w.data as Float32Array)).toEqual([5, 6]);
    expect(sel.rssGrowth).toBeLessThan(RSS_BOUND);
    expect(sel.peakGrowth).toBeLessThan(RSS_BOUND);
    const all = measureRss(() => {
      try {
        parseTensorFile(file, 'pth');
        return null;
      } catch (e) {
        return e as Error;
      }
    });
    report('pth without select, 1 GiB ema storage', all);
    expect(all.result).toBeInstanceOf(TensorFormatError);
    expect(all.result?.message).toMatch(/storage '1' would exceed the decoding budget \(maxBytes\)/);
    expect(all.rssGrowth).toBeLessThan(RSS_BOUND);
    expect(all.peakGrowth).toBeLessThan(RSS_BOUND);
  });

  it('an .npz whose arrays declare 3 GiB is refused before anything is inflated', () => {
    const small = serializeNpy({ dtype: 'uint8', shape: [3], data: Uint8Array.of(1, 2, 3) });
    const file = rawZip([stored('s.npy', small), bomb('a.npy'), bomb('b.npy'), bomb('c.npy')]);
    const m = measureRss(() => {
      try {
        parseNpz(file);
        return null;
      } catch (e) {
        return e as Error;
      }
    });
    report('npz with 3 x 1 GiB arrays', m);
    expect(m.result).toBeInstanceOf(TensorFormatError);
    expect(m.result?.message).toMatch(
      /npz: the 4 zip entries to read declare 3221225472 bytes \(3\.0 GiB\) when inflated, more than the inflation budget of 1\.1 GiB \(maxInflatedBytes\)/,
    );
    expect(m.rssGrowth).toBeLessThan(RSS_BOUND);
    expect(m.peakGrowth).toBeLessThan(RSS_BOUND);
    // Unused entries cost nothing; a budget can be set lower or higher.
    const ok = rawZip([stored('s.npy', small), bomb('notes.bin')]);
    expect(Array.from(parseNpz(ok).tensors.s.data as Uint8Array)).toEqual([1, 2, 3]);
    expect(() => parseNpz(rawZip([bomb('a.npy')]), { maxInflatedBytes: 2 ** 29 })).toThrow(
      /declare 1073741824 bytes \(1\.0 GiB\) when inflated, more than the inflation budget of 512\.0 MiB/,
    );
    expect(defaultMaxInflatedBytes(3 * MB)).toBe(2 ** 30 + 96 * MB);
  });

  it('an entry that inflates to more than it declares is refused, at the declared size', () => {
    const big = deflatedZeros(64);
    const one = deflatedZeros(1);
    // Declares 1 MiB (with the CRC of 1 MiB of zeros) but its stream holds 64 MiB.
    const file = rawZip([{ name: 'x.npy', method: 8, data: big.data, size: one.size, crc: one.crc }]);
    const m = measureRss(() => {
      try {
        readZip(file, 'npz');
        return null;
      } catch (e) {
        return e as Error;
      }
    });
    report('entry declaring 1 MiB, inflating to 64 MiB', m);
    expect(m.result?.message).toMatch(
      /zip entry 'x\.npy' inflates to more than the 1048576 bytes it declares/,
    );
    expect(m.rssGrowth).toBeLessThan(60 * MB);
    // Also when the stream has no stored blocks (fflate's deflate of 8 MiB of zeros).
    const huffman = deflateSync(new Uint8Array(8 << 20));
    const file2 = rawZip([{ name: 'y.npy', method: 8, data: huffman, size: one.size, crc: one.crc }]);
    expect(() => readZip(file2, 'npz')).toThrow(/zip entry 'y\.npy' inflates to more than the 1048576 bytes/);
  });

  it('openZip lists entries with declared sizes and reads one on demand, charging the budget', () => {
    const a = deflatedZeros(2);
    const file = rawZip([
      { name: 'a', method: 8, ...a },
      stored('b', Uint8Array.of(9)),
      { name: 'c', method: 8, ...a },
    ]);
    const zip = openZip(file, 'zip', { maxInflatedBytes: 3 * 2 ** 20 });
    expect([...zip.entries.values()].map((e) => [e.name, e.method, e.size])).toEqual([
      ['a', 8, 2 ** 21],
      ['b', 0, 1],
      ['c', 8, 2 ** 21],
    ]);
    expect(zip.read('b')).toEqual(Uint8Array.of(9));
    expect(zip.read('a').length).toBe(2 ** 21);
    expect(zip.inflateBudgetLeft).toBe(2 ** 20);
    expect(() => zip.read('c')).toThrow(
      /zip: zip entry 'c' declares 2097152 bytes \(2\.0 MiB\), more than the 1\.0 MiB left of the inflation budget of 3\.0 MiB \(maxInflatedBytes\)/,
    );
    expect(() => zip.read('d')).toThrow(/zip entry 'd' is missing/);
  });
});
