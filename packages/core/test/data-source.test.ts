import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  AdamW,
  type BatchLoader,
  checkImageBatchSource,
  createRng,
  type ImageBatch,
  type ImageBatchRead,
  type ImageBatchSource,
  imageSourceCount,
  isBatchLoader,
  isReiterableImageSource,
  Module,
  type ReadImageBatchesOptions,
  readImageBatches,
  setupBackend,
  train,
} from '../src/index.node.js';

/** Image i of a set is filled with the value i (so a batch's first values name its images). */
function images(n: number, from = 0, size = 2): tf.Tensor4D {
  return tf.tidy(() =>
    tf.mul(tf.ones([n, size, size, 3]), tf.range(from, from + n).reshape([n, 1, 1, 1])),
  ) as tf.Tensor4D;
}

/** First value of every image of a batch. */
async function ids(x: tf.Tensor4D): Promise<number[]> {
  const v = await x.data();
  const per = x.size / x.shape[0];
  return Array.from({ length: x.shape[0] }, (_, i) => v[i * per]);
}

/** Reads `n` batches (or all) of a source: the image ids of each batch. */
async function collect(
  src: Parameters<typeof readImageBatches>[0],
  opts: ReadImageBatchesOptions,
  n = Number.POSITIVE_INFINITY,
): Promise<number[][]> {
  const out: number[][] = [];
  if (n === 0) return out;
  for await (const b of readImageBatches(src, opts)) {
    out.push(await ids(b.images));
    if (out.length >= n) break;
  }
  return out;
}

/** A loader-like object: endless batches of 2 images, one epoch = 3 steps; async iterable over one epoch. */
class FakeLoader implements BatchLoader<ImageBatch>, AsyncIterable<ImageBatch> {
  step = 0;
  seeks: number[] = [];
  async next() {
    const s = this.step++;
    return { images: images(2, 2 * s), labels: tf.tensor1d([s, s], 'int32') };
  }
  seek(step: number) {
    this.seeks.push(step);
    this.step = step;
  }
  async *[Symbol.asyncIterator]() {
    const end = (Math.floor(this.step / 3) + 1) * 3;
    while (this.step < end) yield await this.next();
  }
}

describe('ImageBatchSource and readImageBatches', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
  });

  it('types: tensors, arrays, (async) generators, loaders and functions are ImageBatchSources', () => {
    expectTypeOf<tf.Tensor4D>().toExtend<ImageBatchSource>();
    expectTypeOf<tf.Tensor4D[]>().toExtend<ImageBatchSource>();
    expectTypeOf<{ images: tf.Tensor4D; labels: tf.Tensor1D | null }[]>().toExtend<ImageBatchSource>();
    expectTypeOf<AsyncGenerator<tf.Tensor4D>>().toExtend<ImageBatchSource>();
    expectTypeOf<Generator<{ images: tf.Tensor4D }>>().toExtend<ImageBatchSource>();
    expectTypeOf<FakeLoader>().toExtend<ImageBatchSource>();
    expectTypeOf<(step: number) => tf.Tensor4D>().toExtend<ImageBatchSource>();
    expectTypeOf<(step: number) => Promise<tf.Tensor4D | null>>().toExtend<ImageBatchSource>();
    expectTypeOf<() => AsyncGenerator<tf.Tensor4D>>().toExtend<ImageBatchSource>();
    expectTypeOf<number>().not.toExtend<ImageBatchSource>();
    expectTypeOf<AsyncGenerator<number>>().not.toExtend<ImageBatchSource>();
  });

  it('pass mode: a tensor is cut into batches (its own tensor kept), an array read once, nothing leaks', async () => {
    const x = images(5);
    const before = tf.memory().numTensors;
    expect(await collect(x, { caller: 't', batchSize: 2 })).toEqual([[0, 1], [2, 3], [4]]);
    expect(await collect(x, { caller: 't', batchSize: 8 })).toEqual([[0, 1, 2, 3, 4]]);
    expect(x.isDisposed).toBe(false);
    const arr = [images(2), { images: images(1, 2), labels: tf.tensor1d([7], 'int32') }];
    const before2 = tf.memory().numTensors;
    expect(await collect(arr, { caller: 't' })).toEqual([[0, 1], [2]]);
    expect(tf.memory().numTensors).toBe(before2); // array entries stay the caller's
    tf.dispose(arr as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('pass mode: generator batches (and their labels) are consumed, also when the reader stops early', async () => {
    const before = tf.memory().numTensors;
    const made: tf.Tensor[] = [];
    async function* gen() {
      for (let i = 0; i < 4; i++) {
        const b = { images: images(1, i), labels: tf.tensor1d([i], 'int32') };
        made.push(b.images, b.labels);
        yield b;
      }
    }
    const reads: ImageBatchRead[] = [];
    for await (const b of readImageBatches(gen(), { caller: 't' })) {
      reads.push(b);
      expect(b.labels).not.toBeNull();
    }
    expect(reads.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(await collect(gen(), { caller: 't' }, 2)).toEqual([[0], [1]]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pass mode: a step function runs until null, a factory gives one pass, a loader one epoch', async () => {
    const before = tf.memory().numTensors;
    const stepFn = (s: number) => (s < 3 ? images(1, 10 + s) : null);
    expect(await collect(stepFn, { caller: 't' })).toEqual([[10], [11], [12]]);
    function* g() {
      yield images(1, 20);
      yield images(1, 21);
    }
    expect(await collect(() => g(), { caller: 't' })).toEqual([[20], [21]]);
    const loader = new FakeLoader();
    expect(await collect(loader, { caller: 't' })).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(await collect(loader, { caller: 't' })).toEqual([
      [6, 7],
      [8, 9],
      [10, 11],
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('train mode: loaders across epochs (seek on resume), tensors / arrays / factories cycle, iterables end', async () => {
    const before = tf.memory().numTensors;
    const loader = new FakeLoader();
    const t = { caller: 't', mode: 'train' as const };
    expect(await collect(loader, t, 5)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ]);
    expect(await collect(loader, { ...t, startStep: 1 }, 1)).toEqual([[2, 3]]);
    expect(loader.seeks).toEqual([1]);
    const x = images(5);
    expect(await collect(x, { ...t, batchSize: 2 }, 5)).toEqual([[0, 1], [2, 3], [4], [0, 1], [2, 3]]);
    expect(await collect(x, { ...t, batchSize: 2, startStep: 4 }, 2)).toEqual([[2, 3], [4]]);
    const arr = [images(1, 0), images(1, 1)];
    expect(await collect(arr, { ...t, startStep: 1 }, 3)).toEqual([[1], [0], [1]]);
    function* g() {
      yield images(1, 30);
      yield images(1, 31);
    }
    expect(await collect(() => g(), t, 5)).toEqual([[30], [31], [30], [31], [30]]);
    expect(await collect(g(), t)).toEqual([[30], [31]]);
    expect(await collect((s) => images(1, s), { ...t, startStep: 7 }, 2)).toEqual([[7], [8]]);
    expect(x.isDisposed || arr.some((a) => a.isDisposed)).toBe(false);
    tf.dispose([x, ...arr]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a loader without iteration (next() only) is read by trainers; generators are not loaders', () => {
    const plain = { next: async () => images(1) };
    expect(isBatchLoader(plain)).toBe(true);
    expect(isBatchLoader(new FakeLoader())).toBe(true);
    expect(isBatchLoader((async function* () {})())).toBe(false);
    expect(isBatchLoader(images(1))).toBe(false);
    expect(() => checkImageBatchSource(plain, { caller: 'evalX', argument: 'images' })).toThrow(
      /evalX: images must be an ImageBatchSource: .*got an object/,
    );
    expect(() => checkImageBatchSource(plain, { caller: 't', mode: 'train' })).not.toThrow();
  });

  it('bad input: errors name the caller, the argument and what was expected', async () => {
    const opts = { caller: 'trainX', argument: 'data' };
    expect(() => checkImageBatchSource(42, opts)).toThrow(
      /trainX: data must be an ImageBatchSource: a tf.Tensor4D \(the whole set\), an array, Iterable or AsyncIterable of image batches .*got number/,
    );
    expect(() => checkImageBatchSource(null, opts)).toThrow(/got null/);
    const x = images(2);
    expect(() => checkImageBatchSource(x, opts)).toThrow(/batchSize is required when data is one tensor/);
    expect(() => checkImageBatchSource(x, { ...opts, batchSize: 0 })).toThrow(/batchSize must be a positive/);
    expect(() => checkImageBatchSource(tf.zeros([2, 3]), { ...opts, batchSize: 1 })).toThrow(
      /data must be a tf.Tensor4D \[n, H, W, C\]/,
    );
    x.dispose();
    expect(() => checkImageBatchSource(x, { ...opts, batchSize: 1 })).toThrow(/data is a disposed tensor/);
    const before = tf.memory().numTensors;
    const bad = [images(1), tf.zeros([1, 2, 2, 3], 'int32')] as unknown as tf.Tensor4D[];
    await expect(collect(bad, opts)).rejects.toThrow(
      /trainX: batch 1 of data must be a float32 tf.Tensor4D \[b, H, W, C\] in \[-1, 1\] \(or \{ images \}\), got int32 \[1,2,2,3\]/,
    );
    tf.dispose(bad);
    function* wrong() {
      yield images(1);
      yield { pixels: tf.zeros([1]) } as unknown as tf.Tensor4D;
    }
    await expect(collect(wrong(), { ...opts, channels: 3 })).rejects.toThrow(
      /batch 1 of data must be a float32 tf.Tensor4D \[b, H, W, 3\].*got an object/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('helpers: counts known without reading, re-readable forms', () => {
    const x = images(3);
    expect(imageSourceCount(x)).toBe(3);
    expect(imageSourceCount([x, { images: x }])).toBe(6);
    expect(imageSourceCount(new FakeLoader())).toBeUndefined();
    expect(isReiterableImageSource(x)).toBe(true);
    expect(isReiterableImageSource(() => [])).toBe(true);
    expect(isReiterableImageSource(new FakeLoader())).toBe(false);
    x.dispose();
  });
});

class Scale extends Module {
  readonly w: tf.Variable;
  constructor() {
    super();
    this.w = this.registerParameter('w', tf.ones([1]));
  }
}

describe('train() with a loader', () => {
  it('draws next() across epochs, seeks on resume, and a null batch ends the data', async () => {
    await setupBackend({ backend: 'cpu' });
    const model = new Scale();
    const optimizer = AdamW.forModule(model, { lr: 0.01, weightDecay: 0 });
    const rng = createRng(0);
    const loader = new FakeLoader();
    const before = tf.memory().numTensors;
    const lossFn = (b: ImageBatch) =>
      tf.mean(tf.mul(b instanceof tf.Tensor ? b : b.images, model.w)) as tf.Scalar;
    const r = await train({ model, optimizer, lossFn, data: loader, steps: 5, rng });
    expect(r.stopReason).toBe('completed');
    expect(loader.step).toBe(5); // more than one epoch of 3 steps
    expect(tf.memory().numTensors).toBe(before);
    const saved: { step: number } = { step: 0 };
    let payload: Parameters<typeof train>[0]['resume'];
    await train({
      model,
      optimizer,
      lossFn,
      data: loader,
      steps: 2,
      rng,
      checkpoint: {
        every: 2,
        save: async (p) => {
          saved.step = Number(p.metadata.step);
          payload = {
            tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, t]) => [k, tf.clone(t)])),
            metadata: { ...p.metadata },
          };
        },
      },
    });
    expect(saved.step).toBe(2);
    loader.seeks = [];
    await train({ model, optimizer, lossFn, data: loader, steps: 3, rng, resume: payload });
    expect(loader.seeks).toEqual([2]);
    expect(loader.step).toBe(3);
    tf.dispose(Object.values(payload?.tensors ?? {}));
    let n = 0;
    const ending = { next: async () => (n++ < 2 ? images(1) : null) };
    const e = await train({ model, optimizer, lossFn, data: ending, steps: 5, rng });
    expect(e.stopReason).toBe('data-exhausted');
    expect(e.step).toBe(2);
    optimizer.dispose();
    model.dispose();
  });
});
