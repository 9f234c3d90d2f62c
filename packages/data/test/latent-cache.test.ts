import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Autoencoder, createRng, DiagonalGaussian, parseSafetensors, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  DataLoader,
  encodeLatents,
  fromImages,
  type LatentBatch,
  LatentLoader,
  type LatentSource,
  MemoryLatentSource,
  normalizeImage,
  openLatentCache,
  writeLatentCache,
} from '../src/index.node.js';
import { BatchSchedule } from '../src/loader/schedule.js';
import { STREAM } from '../src/seeds.js';
import { patternImage, tempDir } from './helpers.js';

const tmp = tempDir();

/** A tiny deterministic autoencoder: mean = 2x2 average pool, logvar = 2 * mean - 1. */
class PoolAutoencoder implements Autoencoder {
  readonly name = 'pool-test';
  latentNormalization = null;
  encode(x: tf.Tensor4D): DiagonalGaussian {
    const mean = tf.avgPool(x, 2, 2, 'valid');
    const logvar = tf.tidy(() => tf.sub(tf.mul(mean, 2), 1));
    return new DiagonalGaussian(mean, logvar);
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.image.resizeNearestNeighbor(z, [z.shape[1] * 2, z.shape[2] * 2]);
  }
  latentShape([h, w, c]: [number, number, number]): [number, number, number] {
    return [h / 2, w / 2, c];
  }
  dispose(): void {}
}

const H = 4;
const W = 6;
const images = Array.from({ length: 7 }, (_, i) => patternImage(H, W, 3, i));
const ds = fromImages(
  images,
  images.map((_, i) => i % 3),
  ['a', 'b', 'c'],
);

/** The expected posterior mean of image i (mirrored when flip), computed in plain JS. */
function expectedMean(i: number, flip: boolean): Float32Array {
  const x = normalizeImage(images[i]).data;
  const out = new Float32Array((H / 2) * (W / 2) * 3);
  for (let y = 0; y < H / 2; y++)
    for (let xx = 0; xx < W / 2; xx++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) {
            let col = 2 * xx + dx;
            if (flip) col = W - 1 - col;
            s += x[((2 * y + dy) * W + col) * 3 + c];
          }
        out[(y * (W / 2) + xx) * 3 + c] = s / 4;
      }
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(tol);
}

const dir = join(tmp.dir, 'cache');
let sources: LatentSource[] = [];

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  const before = tf.memory().numTensors;
  const events: number[] = [];
  await writeLatentCache(dir, new PoolAutoencoder(), ds, {
    batchSize: 2,
    shardSize: 3,
    onProgress: (p) => events.push(p.done),
  });
  expect(tf.memory().numTensors).toBe(before);
  expect(events.at(-1)).toBe(7);
  sources = [await openLatentCache(dir, { inMemory: true }), await openLatentCache(dir, { inMemory: false })];
});

afterAll(async () => {
  for (const s of sources) await s.close();
});

describe('latent cache', () => {
  it('writes sharded safetensors files and a manifest', () => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({
      format: 'ldmae-latent-cache',
      autoencoder: 'pool-test',
      imageShape: [4, 6, 3],
      latentShape: [2, 3, 3],
      count: 7,
      flip: true,
      labelled: true,
      classes: ['a', 'b', 'c'],
    });
    expect(m.shards.map((s: { count: number }) => s.count)).toEqual([3, 3, 1]);
    for (const s of m.shards) expect(existsSync(join(dir, s.file))).toBe(true);
  });

  it('round-trips mean, logvar and the flipped posteriors (in memory and from files)', async () => {
    for (const src of sources) {
      expect(src.length).toBe(7);
      for (let i = 0; i < 7; i++) {
        for (const flip of [false, true]) {
          const item = await src.read(i, flip);
          const mean = expectedMean(i, flip);
          close(item.mean, mean);
          close(
            item.logvar,
            mean.map((v) => 2 * v - 1),
          );
          expect(item.label).toBe(i % 3);
        }
      }
      await expect(src.read(7, false)).rejects.toThrow(/index must be an integer in \[0, 7\)/);
    }
  });

  it('streams fresh posterior samples and flips, seeded and resumable', async () => {
    const [mem, file] = sources;
    const opts = { batchSize: 3, seed: 4 };
    const collect = async (l: LatentLoader, n: number) => {
      const out = [];
      for (let s = 0; s < n; s++) out.push(await l.nextData());
      return out;
    };
    const a = await collect(new LatentLoader(mem, opts), 6);
    const b = await collect(new LatentLoader(file, opts), 6);
    expect(b.map((d) => Array.from(d.latents))).toEqual(a.map((d) => Array.from(d.latents)));
    const resumed = await collect(new LatentLoader(mem, { ...opts, startStep: 4 }), 2);
    expect(resumed.map((d) => Array.from(d.latents))).toEqual(a.slice(4).map((d) => Array.from(d.latents)));
    // Each value is mean + exp(logvar / 2) * eps, with the flip drawn first from the item's generator.
    const schedule = new BatchSchedule(7, opts);
    for (const d of a) {
      schedule.plan(d.step, STREAM.latent).forEach((it, k) => {
        const rng = createRng(it.seed);
        const flip = rng.nextFloat() < 0.5;
        expect(d.flipped[k]).toBe(flip ? 1 : 0);
        expect(d.indices[k]).toBe(it.index);
        const mean = expectedMean(it.index, flip);
        const want = mean.map((m) => m + Math.exp(0.5 * (2 * m - 1)) * rng.nextNormal());
        close(d.latents.subarray(k * 18, (k + 1) * 18), want, 1e-5);
      });
    }
  });

  it('flips about half the time; returns means and normalises on request', async () => {
    const loader = new LatentLoader(sources[0], { batchSize: 7, seed: 1 });
    let flips = 0;
    for (let e = 0; e < 40; e++) flips += (await loader.nextData()).flipped.reduce((s, f) => s + f, 0);
    expect(flips / 280).toBeGreaterThan(0.4);
    expect(flips / 280).toBeLessThan(0.6);
    const shift = [0.1, -0.2, 0.3];
    const scale = [2, 3, 4];
    const means = new LatentLoader(sources[0], {
      batchSize: 2,
      shuffle: false,
      sample: false,
      flipProbability: 0,
      normalization: { shift, scale },
    });
    const before = tf.memory().numTensors;
    const b = await means.next();
    expect(b.latents.shape).toEqual([2, 2, 3, 3]);
    expect(Array.from(b.labels!.dataSync())).toEqual([0, 1]);
    const want = [...expectedMean(0, false), ...expectedMean(1, false)].map(
      (v, j) => (v - shift[j % 3]) * scale[j % 3],
    );
    close(b.latents.dataSync(), want, 1e-5);
    tf.dispose([b.latents, b.labels!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a LatentLoader is async iterable over one epoch', async () => {
    const before = tf.memory().numTensors;
    const loader = new LatentLoader(sources[0], { batchSize: 3, seed: 2 });
    expectTypeOf(loader).toExtend<AsyncIterable<LatentBatch>>();
    const shapes: number[][] = [];
    for await (const b of loader) {
      shapes.push(b.latents.shape);
      expect(b.epoch).toBe(0);
      tf.dispose([b.latents, b.labels!]);
    }
    expect(shapes).toEqual([
      [3, 2, 3, 3],
      [3, 2, 3, 3],
      [1, 2, 3, 3],
    ]);
    expect(loader.step).toBe(3);
    expect(loader.epoch).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encodes any image batch source: a DataLoader (one epoch), a tensor, an async generator', async () => {
    const encode = async (data: Parameters<typeof encodeLatents>[1], opts = {}) => {
      const files = new Map<string, Uint8Array>();
      const manifest = await encodeLatents(new PoolAutoencoder(), data, {
        shardSize: 4,
        write: async (f, bytes) => {
          files.set(f, bytes);
        },
        ...opts,
      });
      const source = new MemoryLatentSource(manifest, [...files.values()]);
      /** The data-set index stored for cache row `r`. */
      const indexOf = (r: number) =>
        (parseSafetensors([...files.values()][Math.floor(r / 4)]).tensors.indices.data as Int32Array)[r % 4];
      return Object.assign(source, { indexOf });
    };
    const before = tf.memory().numTensors;
    // A shuffled loader: rows keep their data-set indices and labels, the manifest its classes.
    const loader = new DataLoader(ds, { batchSize: 3, seed: 5 });
    const fromLoader = await encode(loader);
    expect(loader.step).toBe(3); // one epoch of 7 items in batches of 3
    expect(fromLoader.manifest).toMatchObject({ count: 7, labelled: true, classes: ['a', 'b', 'c'] });
    const seen = new Set<number>();
    for (let r = 0; r < 7; r++) {
      const idx = fromLoader.indexOf(r);
      seen.add(idx);
      const item = await fromLoader.read(r, false);
      close(item.mean, expectedMean(idx, false));
      expect(item.label).toBe(idx % 3);
    }
    expect(seen.size).toBe(7);
    expect(tf.memory().numTensors).toBe(before);
    // One tensor holding the whole set (kept), cut into batches of batchSize: rows in order, no labels.
    const all = tf.tidy(() =>
      tf.concat(images.map((im) => tf.tensor4d(normalizeImage(im).data, [1, H, W, 3]))),
    );
    const fromTensor = await encode(all, { batchSize: 2, flip: false });
    expect(all.isDisposed).toBe(false);
    expect(fromTensor.manifest).toMatchObject({ count: 7, labelled: false, flip: false });
    expect(fromTensor.manifest.classes).toBeUndefined();
    for (let i = 0; i < 7; i++) close((await fromTensor.read(i, false)).mean, expectedMean(i, false));
    // An async generator of { images, labels }: consumed (disposed) as it is encoded.
    const made: tf.Tensor[] = [];
    async function* gen() {
      for (let i = 0; i < 7; i += 4) {
        const n = Math.min(4, 7 - i);
        const b = {
          images: tf.slice(all, [i, 0, 0, 0], [n, -1, -1, -1]),
          labels: tf.tensor1d(
            Array.from({ length: n }, (_, k) => 10 + i + k),
            'int32',
          ),
        };
        made.push(b.images, b.labels);
        yield b;
      }
    }
    const fromGen = await encode(gen(), { classes: ['x'] });
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(fromGen.manifest).toMatchObject({ count: 7, labelled: true, classes: ['x'] });
    expect((await fromGen.read(5, true)).label).toBe(15);
    close((await fromGen.read(5, true)).mean, expectedMean(5, true));
    all.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(encode('images' as never)).rejects.toThrow(
      /encodeLatents: data must be a Dataset or an ImageBatchSource: .*got string/,
    );
    await expect(encode([tf.zeros([2, 4, 6])] as never)).rejects.toThrow(
      /encodeLatents: batch 0 of data must be a float32 tf.Tensor4D/,
    );
  });

  it('rejects bad options, missing folders and corrupt shards', async () => {
    await expect(openLatentCache(join(tmp.dir, 'nope'))).rejects.toThrow(/cannot read .*manifest\.json/);
    expect(
      () => new LatentLoader(sources[0], { batchSize: 2, normalization: { shift: [0], scale: [1] } }),
    ).toThrow(/3 shift/);
    expect(() => new LatentLoader(sources[0], { batchSize: 2, flipProbability: 1.5 })).toThrow(
      /flipProbability/,
    );
    const noFlip: string[] = [];
    const manifest = await encodeLatents(new PoolAutoencoder(), ds, {
      flip: false,
      shardSize: 10,
      write: async (f, bytes) => {
        noFlip.push(f);
        writeFileSync(join(tmp.dir, `noflip-${f}`), bytes);
      },
    });
    const src = new MemoryLatentSource(manifest, [readFileSync(join(tmp.dir, `noflip-${noFlip[0]}`))]);
    expect(() => new LatentLoader(src, { batchSize: 2, flipProbability: 0.5 })).toThrow(/flip: true/);
    expect(new LatentLoader(src, { batchSize: 2 }).stepsPerEpoch).toBe(4);
    // A truncated shard fails with the file's name when read.
    const broken = join(tmp.dir, 'broken');
    await writeLatentCache(broken, new PoolAutoencoder(), ds, { shardSize: 7 });
    const shard = join(broken, 'g1-shard-00000.safetensors');
    writeFileSync(shard, readFileSync(shard).subarray(0, 200));
    const lazy = await openLatentCache(broken, { inMemory: false });
    await expect(lazy.read(6, true)).rejects.toThrow(/g1-shard-00000\.safetensors/);
    await lazy.close();
    await expect(openLatentCache(broken, { inMemory: true })).rejects.toThrow(
      /g1-shard-00000\.safetensors is not a readable/,
    );
  });
});

/** PoolAutoencoder scaled by `k`, failing on its `failAt`-th encode call (a crash mid-write). */
class ScaledAutoencoder extends PoolAutoencoder {
  calls = 0;
  constructor(
    readonly k: number,
    readonly failAt = Number.POSITIVE_INFINITY,
  ) {
    super();
  }
  override encode(x: tf.Tensor4D): DiagonalGaussian {
    if (++this.calls === this.failAt) throw new Error('encoder crashed');
    const d = super.encode(x);
    const mean = tf.mul(d.mean, this.k) as tf.Tensor4D;
    const logvar = d.logvar.clone();
    d.dispose();
    return new DiagonalGaussian(mean, logvar);
  }
}

describe('rewriting a latent cache', () => {
  const folder = join(tmp.dir, 'generations');
  const firstMean = async (): Promise<number> => {
    const src = await openLatentCache(folder, { inMemory: false });
    try {
      return (await src.read(0, false)).mean[0];
    } finally {
      await src.close();
    }
  };

  it('commits a new cache with its info in one step, and keeps the old one when a rewrite fails', async () => {
    const m1 = await writeLatentCache(folder, new ScaledAutoencoder(1), ds, {
      shardSize: 3,
      info: async (cache) => ({ first: (await cache.read(0, false)).mean[0], count: cache.length }),
    });
    const v1 = await firstMean();
    expect(m1.generation).toBe(1);
    expect(m1.info).toEqual({ first: v1, count: 7 });
    expect(JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')).info).toEqual(m1.info);
    // The encoder fails on its 5th call (the 3rd batch): shards of generation 2 are on disk, no manifest.
    await expect(
      writeLatentCache(folder, new ScaledAutoencoder(10, 5), ds, { shardSize: 3, batchSize: 2 }),
    ).rejects.toThrow(/encoder crashed/);
    expect(readdirSync(folder).some((f) => f.startsWith('g2-'))).toBe(true);
    expect(await firstMean()).toBe(v1);
    // A failing info callback commits nothing either.
    await expect(
      writeLatentCache(folder, new ScaledAutoencoder(10), ds, {
        shardSize: 3,
        info: () => {
          throw new Error('statistics failed');
        },
      }),
    ).rejects.toThrow(/statistics failed/);
    expect(await firstMean()).toBe(v1);
    // The next complete write replaces the cache and removes every file of the others.
    const m4 = await writeLatentCache(folder, new ScaledAutoencoder(10), ds, { shardSize: 3 });
    expect(m4.generation).toBe(4);
    expect(await firstMean()).toBeCloseTo(10 * v1, 5);
    expect(readdirSync(folder).sort()).toEqual([
      'g4-shard-00000.safetensors',
      'g4-shard-00001.safetensors',
      'g4-shard-00002.safetensors',
      'manifest.json',
    ]);
  });
});
