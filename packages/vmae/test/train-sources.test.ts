import { type ImageBatchSource, setupBackend } from '@ldmae/core';
import { DataLoader } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { tinyDataset } from '../../baselines/test/tiny-dataset.js';
import { type TrainVMAEOptions, trainVMAE } from '../src/index.js';
import { microVMAE, randomImages } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const run = { steps: 3, batchSize: 4, lr: 1e-3, stage: 3 as const };

describe('trainVMAE data sources', () => {
  it('types: a DataLoader, tensors, arrays, generators and functions are accepted', () => {
    expectTypeOf<DataLoader>().toExtend<TrainVMAEOptions['data']>();
    expectTypeOf<ImageBatchSource>().toExtend<TrainVMAEOptions['data']>();
    expectTypeOf<tf.Tensor4D>().toExtend<TrainVMAEOptions['data']>();
    expectTypeOf<AsyncGenerator<tf.Tensor4D>>().toExtend<TrainVMAEOptions['data']>();
    expectTypeOf<{ next(): Promise<tf.Tensor4D> }>().toExtend<TrainVMAEOptions['data']>();
  });

  it('a DataLoader is drawn from across epochs; its batches (and labels) are released', async () => {
    const m = microVMAE({}, 1);
    const loader = new DataLoader(tinyDataset(), { batchSize: 4, seed: 1 });
    expect(loader.stepsPerEpoch).toBe(2);
    const before = tf.memory().numTensors;
    const r = await trainVMAE({ model: m, data: loader, ...run, steps: 5 });
    expect(r.stopReason).toBe('completed');
    expect(r.losses).toHaveLength(5);
    expect(loader.step).toBe(5); // two and a half epochs
    expect(tf.memory().numTensors).toBe(before);
    await loader.close();
    m.dispose();
  });

  it('a whole-set tensor and an array are cycled through and stay the caller’s', async () => {
    const m = microVMAE({}, 2);
    const x = randomImages(6, 16, 16, 5);
    const arr = [randomImages(4, 16, 16, 6), randomImages(2, 16, 16, 7)];
    const before = tf.memory().numTensors;
    const a = await trainVMAE({ model: m, data: x, ...run, steps: 4 });
    expect(a.stopReason).toBe('completed');
    expect(a.losses).toHaveLength(4);
    const b = await trainVMAE({ model: m, data: arr, ...run });
    expect(b.stopReason).toBe('completed');
    expect(b.losses).toHaveLength(3);
    expect(x.isDisposed || arr.some((t) => t.isDisposed)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...arr]);
    m.dispose();
  });

  it('an async generator is read once and its batches are disposed', async () => {
    const m = microVMAE({}, 3);
    const made: tf.Tensor[] = [];
    async function* gen() {
      for (let i = 0; i < 2; i++) {
        const b = { images: randomImages(4, 16, 16, 20 + i), labels: tf.tensor1d([0, 1, 0, 1], 'int32') };
        made.push(b.images, b.labels);
        yield b;
      }
    }
    const before = tf.memory().numTensors;
    const r = await trainVMAE({ model: m, data: gen(), ...run, steps: 5 });
    expect(r.stopReason).toBe('data-exhausted');
    expect(r.losses).toHaveLength(2);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('bad data: the error names the argument and what was expected; nothing leaks', async () => {
    const m = microVMAE({}, 4);
    const before = tf.memory().numTensors;
    await expect(trainVMAE({ model: m, data: 'images' as never, ...run })).rejects.toThrow(
      /trainVMAE: data must be an ImageBatchSource: a tf.Tensor4D \(the whole set\), an array, Iterable or AsyncIterable of image batches .*a DataLoader, a loader with next\(\), or a function \(step\) => batch; got string/,
    );
    const flatSet = tf.zeros([4, 16]);
    await expect(trainVMAE({ model: m, data: flatSet as never, ...run })).rejects.toThrow(
      /trainVMAE: data must be a tf.Tensor4D \[n, H, W, C\]/,
    );
    flatSet.dispose();
    async function* flat() {
      yield randomImages(4, 16, 16, 1);
      yield tf.zeros([4, 16, 16]) as unknown as tf.Tensor4D;
    }
    await expect(trainVMAE({ model: m, data: flat(), ...run })).rejects.toThrow(
      /trainVMAE: batch 1 of data must be a float32 tf.Tensor4D \[b, H, W, C\] in \[-1, 1\] \(or \{ images \}\), got float32 \[4,16,16\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
