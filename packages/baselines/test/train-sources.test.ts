import { createRng, type ImageBatchSource, setupBackend } from '@ldmae/core';
import { DataLoader } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createBaseline, createObjective, type TrainBaselineOptions, trainBaseline } from '../src/index.js';
import { tinyDataset } from './tiny-dataset.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const images = (n: number, seed: number) => createRng(seed).uniform([n, 16, 16, 3], -1, 1) as tf.Tensor4D;

/** Runs trainBaseline ('ae', micro preset) on `data`; returns its result with the optimiser released. */
async function fit(
  data: TrainBaselineOptions['data'],
  steps: number,
  extra: Partial<TrainBaselineOptions> = {},
) {
  const ae = createBaseline('ae', { preset: 'micro-f4d4', seed: 1 });
  const objective = createObjective('ae', ae, { seed: 2 });
  try {
    const r = await trainBaseline({ objective, data, steps, lr: 1e-3, ...extra });
    r.optimizer.dispose();
    return r;
  } finally {
    objective.dispose();
    ae.dispose();
  }
}

describe('trainBaseline data sources', () => {
  it('types: a DataLoader, tensors, arrays, generators and functions are accepted', () => {
    expectTypeOf<DataLoader>().toExtend<TrainBaselineOptions['data']>();
    expectTypeOf<ImageBatchSource>().toExtend<TrainBaselineOptions['data']>();
    expectTypeOf<AsyncGenerator<{ images: tf.Tensor4D; labels: tf.Tensor1D }>>().toExtend<
      TrainBaselineOptions['data']
    >();
  });

  it('a DataLoader is drawn from across epochs; its batches (and labels) are released', async () => {
    const loader = new DataLoader(tinyDataset(), { batchSize: 4, seed: 1 });
    const before = tf.memory().numTensors;
    const r = await fit(loader, 5);
    expect(r.stopReason).toBe('completed');
    expect(r.losses).toHaveLength(5);
    expect(loader.step).toBe(5); // the epoch is 2 steps
    expect(tf.memory().numTensors).toBe(before);
    await loader.close();
  });

  it('a whole-set tensor (batches of batchSize) and an array are cycled through and stay the caller’s', async () => {
    const x = images(6, 5);
    const arr = [images(4, 6), images(2, 7)];
    const before = tf.memory().numTensors;
    const a = await fit(x, 4, { batchSize: 4 });
    expect(a.stopReason).toBe('completed');
    expect(a.losses).toHaveLength(4);
    const b = await fit(arr, 3);
    expect(b.stopReason).toBe('completed');
    expect(b.losses).toHaveLength(3);
    expect(x.isDisposed || arr.some((t) => t.isDisposed)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...arr]);
  });

  it('an async generator is read once and its batches are disposed', async () => {
    const made: tf.Tensor[] = [];
    async function* gen() {
      for (let i = 0; i < 2; i++) {
        const b = { images: images(4, 20 + i), labels: tf.tensor1d([0, 1, 0, 1], 'int32') };
        made.push(b.images, b.labels);
        yield b;
      }
    }
    const before = tf.memory().numTensors;
    const r = await fit(gen(), 5);
    expect(r.stopReason).toBe('data-exhausted');
    expect(r.losses).toHaveLength(2);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad data: the error names the argument and what was expected; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    await expect(fit(42 as never, 2)).rejects.toThrow(
      /trainBaseline: data must be an ImageBatchSource: a tf.Tensor4D \(the whole set\), an array, Iterable or AsyncIterable of image batches .*got number/,
    );
    const x = images(4, 1);
    await expect(fit(x, 2)).rejects.toThrow(
      /trainBaseline: batchSize is required when data is one tensor \(the whole set, read in batches of batchSize\)/,
    );
    x.dispose();
    function* wrong() {
      yield { pixels: images(4, 2) } as unknown as tf.Tensor4D;
    }
    await expect(fit(wrong(), 2)).rejects.toThrow(
      /trainBaseline: batch 0 of data must be a float32 tf.Tensor4D \[b, H, W, C\] in \[-1, 1\] \(or \{ images \}\), got an object/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
