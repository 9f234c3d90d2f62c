import { type ImageBatchSource, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  ArrayDataset,
  type Batch,
  compose,
  DataLoader,
  fromImages,
  lambda,
  normalizeImage,
  pad,
  randomHorizontalFlip,
  randomResizedCrop,
  toRgb,
  trainTestSplit,
} from '../src/index.node.js';
import { patternImage } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** 23 distinct 6x5 RGB images labelled i % 4. */
function dataset(): ArrayDataset {
  const ims = Array.from({ length: 23 }, (_, i) => patternImage(6, 5, 3, i));
  return fromImages(
    ims,
    ims.map((_, i) => i % 4),
  );
}

const augment = compose(
  pad(1, { mode: 'reflect' }),
  randomResizedCrop(4, { scale: [0.5, 1] }),
  randomHorizontalFlip(),
);

async function collect(
  loader: DataLoader,
  steps: number,
): Promise<{ images: number[][]; indices: number[][] }> {
  const images: number[][] = [];
  const indices: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const d = await loader.nextData();
    images.push(Array.from(d.images));
    indices.push(Array.from(d.indices));
  }
  return { images, indices };
}

describe('DataLoader', () => {
  it('packs NHWC float32 in [-1, 1] with labels, owned by the caller', async () => {
    const ds = dataset();
    const before = tf.memory().numTensors;
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: false });
    const b = await loader.next();
    expect(b.images.shape).toEqual([5, 6, 5, 3]);
    expect(b.images.dtype).toBe('float32');
    expect(Array.from(b.labels!.dataSync())).toEqual([0, 1, 2, 3, 0]);
    const first = normalizeImage(ds.getSync(0).image).data;
    expect(Array.from(b.images.dataSync().subarray(0, 90))).toEqual(Array.from(first));
    tf.dispose([b.images, b.labels!]);
    expect(tf.memory().numTensors).toBe(before);
    const nchw = await new DataLoader(ds, { batchSize: 2, shuffle: false, layout: 'NCHW' }).nextData();
    expect(nchw.shape).toEqual([2, 3, 6, 5]);
    expect(nchw.images[1]).toBe(first[3]); // channel 0, pixel 1 = NHWC element 3
    expect(nchw.images[30]).toBe(first[1]); // channel 1, pixel 0
  });

  it('visits every item once per epoch in a new seeded order; dropLast', async () => {
    const ds = dataset();
    const loader = new DataLoader(ds, { batchSize: 5, seed: 7 });
    expect(loader.stepsPerEpoch).toBe(5);
    const { indices } = await collect(loader, 10);
    expect(indices.map((b) => b.length)).toEqual([5, 5, 5, 5, 3, 5, 5, 5, 5, 3]);
    const e0 = indices.slice(0, 5).flat();
    const e1 = indices.slice(5).flat();
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(e0).not.toEqual(e1);
    expect(e0).toEqual(Array.from(loader.permutation(0)));
    const dl = new DataLoader(ds, { batchSize: 5, seed: 7, dropLast: true });
    expect(dl.stepsPerEpoch).toBe(4);
    const d = await collect(dl, 5);
    expect(d.indices[4]).toEqual(e1.slice(0, 5));
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const ds = dataset();
    const a = await collect(new DataLoader(ds, { batchSize: 4, seed: 3, transform: augment }), 7);
    const b = await collect(
      new DataLoader(ds, { batchSize: 4, seed: 3, transform: augment, prefetch: 0 }),
      7,
    );
    const c = await collect(new DataLoader(ds, { batchSize: 4, seed: 4, transform: augment }), 7);
    expect(b).toEqual(a);
    expect(c.indices).not.toEqual(a.indices);
  });

  it('resumes mid-epoch identically (startStep, seek, and a state round trip)', async () => {
    const ds = dataset();
    const full = await collect(new DataLoader(ds, { batchSize: 4, seed: 11, transform: augment }), 12);
    const first = new DataLoader(ds, { batchSize: 4, seed: 11, transform: augment });
    await collect(first, 3); // step 3 is mid-epoch 0 (6 steps per epoch)
    const state = JSON.parse(JSON.stringify(first.state()));
    const resumed = new DataLoader(ds, {
      batchSize: 4,
      seed: state.seed,
      transform: augment,
      startStep: state.step,
    });
    const rest = await collect(resumed, 9);
    expect(rest.images).toEqual(full.images.slice(3));
    expect(rest.indices).toEqual(full.indices.slice(3));
    first.seek(8);
    expect((await collect(first, 1)).images[0]).toEqual(full.images[8]);
  });

  it('gives the same batches from a worker thread', async () => {
    const ds = dataset();
    const main = await collect(new DataLoader(ds, { batchSize: 4, seed: 5, transform: augment }), 4);
    const loader = new DataLoader(ds, { batchSize: 4, seed: 5, transform: augment, workers: 1, prefetch: 3 });
    try {
      const viaWorker = await collect(loader, 4);
      expect(viaWorker).toEqual(main);
    } finally {
      await loader.close();
    }
    expect(() => new DataLoader(ds, { batchSize: 4, workers: 1, transform: lambda((im) => im) })).toThrow(
      /lambda/,
    );
  });

  it('iterates the rest of an epoch', async () => {
    const loader = new DataLoader(dataset(), { batchSize: 10, seed: 1, startStep: 1 });
    const steps: number[] = [];
    for await (const b of loader.epochBatches()) {
      steps.push(b.step);
      tf.dispose([b.images, b.labels!]);
    }
    expect(steps).toEqual([1, 2]);
    expect(loader.epoch).toBe(1);
  });

  it('for await runs one epoch (PyTorch-style); next() keeps going across epochs', async () => {
    const before = tf.memory().numTensors;
    // 23 items in batches of 10: one epoch = 3 batches (10, 10, 3), or 2 with dropLast.
    const loader = new DataLoader(dataset(), { batchSize: 10, seed: 4 });
    expectTypeOf(loader).toExtend<AsyncIterable<Batch>>();
    expectTypeOf(loader).toExtend<ImageBatchSource>();
    const epoch = async (l: DataLoader) => {
      const got: { shape: number[]; labels: number[]; epoch: number; indices: number[] }[] = [];
      for await (const b of l) {
        got.push({
          shape: b.images.shape,
          labels: b.labels!.shape,
          epoch: b.epoch,
          indices: Array.from(b.indices),
        });
        tf.dispose([b.images, b.labels!]);
      }
      return got;
    };
    const e0 = await epoch(loader);
    expect(e0.map((b) => b.shape)).toEqual([
      [10, 6, 5, 3],
      [10, 6, 5, 3],
      [3, 6, 5, 3],
    ]);
    expect(e0.map((b) => b.labels)).toEqual([[10], [10], [3]]);
    expect(e0.every((b) => b.epoch === 0)).toBe(true);
    expect(e0.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 23 }, (_, i) => i),
    );
    expect(loader.step).toBe(3);
    const e1 = await epoch(loader); // the next loop is the next epoch, in its own order
    expect(e1.map((b) => b.epoch)).toEqual([1, 1, 1]);
    expect(e1.map((b) => b.indices)).not.toEqual(e0.map((b) => b.indices));
    // Leaving early keeps the position: the next loop finishes that epoch.
    for await (const b of loader) {
      tf.dispose([b.images, b.labels!]);
      break;
    }
    expect(loader.step).toBe(7);
    expect((await epoch(loader)).map((b) => b.shape[0])).toEqual([10, 3]);
    // next() is not bounded by epochs.
    const steps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const b = await loader.next();
      steps.push(b.epoch);
      tf.dispose([b.images, b.labels!]);
    }
    expect(steps).toEqual([3, 3, 3, 4, 4]);
    const dl = new DataLoader(dataset(), { batchSize: 10, dropLast: true });
    expect((await epoch(dl)).map((b) => b.shape[0])).toEqual([10, 10]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad options before any work', () => {
    const ds = dataset();
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => new DataLoader(ds, { batchSize: 30, dropLast: true })).toThrow(/exceeds the 23 items/);
    expect(() => new DataLoader(ds, { batchSize: 2, layout: 'CHW' as 'NHWC' })).toThrow(/layout/);
    expect(() => new DataLoader(ds, { batchSize: 2, startStep: -1 })).toThrow(/startStep/);
    expect(() => new DataLoader({} as ArrayDataset, { batchSize: 2 })).toThrow(/Dataset/);
    expect(() => new ArrayDataset(new Uint8Array(0), [0, 2, 2, 1])).toThrow(/empty/);
    expect(() => new ArrayDataset(new Uint8Array(7), [2, 2, 2, 1])).toThrow(/needs 8/);
  });

  it('mixes grey and RGB only through a transform', async () => {
    const ds = fromImages([patternImage(4, 4, 1), patternImage(4, 4, 1, 1)]);
    const d = await new DataLoader(ds, { batchSize: 2, shuffle: false, transform: toRgb() }).nextData();
    expect(d.shape).toEqual([2, 4, 4, 3]);
    expect(d.labels).toBeNull();
  });
});

describe('trainTestSplit', () => {
  it('splits disjointly and reproducibly; stratified keeps class proportions', () => {
    const ds = dataset();
    const a = trainTestSplit(ds, { testFraction: 0.25, seed: 2 });
    const b = trainTestSplit(ds, { testFraction: 0.25, seed: 2 });
    expect(Array.from(a.test.indices)).toEqual(Array.from(b.test.indices));
    expect(a.test.length).toBe(6);
    expect(a.train.length + a.test.length).toBe(23);
    const all = new Set([...a.train.indices, ...a.test.indices]);
    expect(all.size).toBe(23);
    const s = trainTestSplit(ds, { testFraction: 0.5, stratify: true });
    const per = [0, 0, 0, 0];
    for (const l of s.test.labels!) per[l]++;
    expect(per).toEqual([3, 3, 3, 2].map((n, c) => Math.round(0.5 * [6, 6, 6, 5][c]) || n));
    expect(() => trainTestSplit(ds, { testFraction: 2 })).toThrow(/testFraction/);
  });
});
