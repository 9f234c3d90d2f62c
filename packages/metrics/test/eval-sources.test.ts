import { type ImageBatchSource, setupBackend } from '@ldmae/core';
import { DataLoader, fromImages } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { computeReference, latentSmoothness } from '../src/index.js';
import { evaluateReconstruction } from '../src/index.node.js';
import { fakeExtractor, PoolAutoencoder } from './eval-helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** Ten distinct 8 x 8 RGB byte images. */
const dataset = () =>
  fromImages(
    Array.from({ length: 10 }, (_, i) => ({
      data: Uint8Array.from({ length: 8 * 8 * 3 }, (_, j) => (i * 37 + j * 11) % 256),
      height: 8,
      width: 8,
      channels: 3,
    })),
  );

/** The whole data set as one tensor [10, 8, 8, 3] in [-1, 1] (what the loader makes of it). */
async function wholeSet(): Promise<tf.Tensor4D> {
  const loader = new DataLoader(dataset(), { batchSize: 10, shuffle: false });
  const b = await loader.next();
  b.labels?.dispose();
  return b.images;
}

/** The same images as an async generator of {images, labels} batches of 4 (consumed by the reader). */
function generator(x: tf.Tensor4D, made: tf.Tensor[]) {
  return (async function* () {
    for (let b0 = 0; b0 < 10; b0 += 4) {
      const n = Math.min(4, 10 - b0);
      const b = { images: tf.slice(x, [b0, 0, 0, 0], [n, -1, -1, -1]), labels: tf.zeros([n], 'int32') };
      made.push(b.images, b.labels);
      yield b;
    }
  })();
}

describe('evaluations read every ImageBatchSource', () => {
  it('types: a DataLoader and an async generator are ImageBatchSources', () => {
    expectTypeOf<DataLoader>().toExtend<ImageBatchSource>();
    expectTypeOf<DataLoader>().toExtend<Parameters<typeof evaluateReconstruction>[1]>();
    expectTypeOf<DataLoader>().toExtend<Parameters<typeof computeReference>[1]>();
    expectTypeOf<AsyncGenerator<tf.Tensor4D>>().toExtend<Parameters<typeof latentSmoothness>[1]>();
  });

  it('evaluateReconstruction: a DataLoader (one epoch), a tensor, an array and an async generator agree', async () => {
    const x = await wholeSet();
    const before = tf.memory().numTensors;
    const opts = { extractor: fakeExtractor(), batchSize: 3 };
    const ref = await evaluateReconstruction(new PoolAutoencoder(), x, opts);
    const loader = new DataLoader(dataset(), { batchSize: 4, seed: 7 }); // shuffled: order does not matter
    const fromLoader = await evaluateReconstruction(new PoolAutoencoder(), loader, opts);
    expect(loader.step).toBe(3); // exactly one epoch: 4 + 4 + 2 images
    const arr = [tf.slice(x, 0, 6) as tf.Tensor4D, tf.slice(x, 6, 4) as tf.Tensor4D];
    const beforeArr = tf.memory().numTensors;
    const fromArray = await evaluateReconstruction(new PoolAutoencoder(), arr, opts);
    expect(tf.memory().numTensors).toBe(beforeArr); // array entries stay the caller's
    tf.dispose(arr);
    const made: tf.Tensor[] = [];
    const fromGen = await evaluateReconstruction(new PoolAutoencoder(), generator(x, made), opts);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    for (const r of [fromLoader, fromArray, fromGen]) {
      expect(r.count).toBe(10);
      expect(r.mse).toBeCloseTo(ref.mse, 6);
      expect(r.psnr).toBeCloseTo(ref.psnr, 4);
      expect(r.rfid).toBeCloseTo(ref.rfid as number, 4);
    }
    expect(x.isDisposed).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    await loader.close();
    x.dispose();
  });

  it('computeReference: a DataLoader, a tensor and an async generator give the same statistics', async () => {
    const x = await wholeSet();
    const before = tf.memory().numTensors;
    const ex = fakeExtractor();
    const ref = await computeReference(ex, x, { batchSize: 5 });
    const loader = new DataLoader(dataset(), { batchSize: 3, seed: 1 });
    const fromLoader = await computeReference(ex, loader);
    const fromGen = await computeReference(ex, generator(x, []));
    for (const r of [fromLoader, fromGen]) {
      expect(r.count).toBe(10);
      r.pool.mu.forEach((v, i) => {
        expect(v).toBeCloseTo(ref.pool.mu[i], 6);
      });
    }
    // A second pass over the loader is its next epoch: the same images in a new order.
    const again = await computeReference(ex, loader);
    expect(again.count).toBe(10);
    expect(loader.epoch).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    await loader.close();
    x.dispose();
  });

  it('latentSmoothness: a DataLoader with given std_c, or a function returning it for the two passes of "data"', async () => {
    const x = await wholeSet();
    const before = tf.memory().numTensors;
    const opts = { extractor: null, eps: [0, 0.1] };
    const ref = await latentSmoothness(new PoolAutoencoder(), x, { ...opts, batchSize: 4 });
    const loader = new DataLoader(dataset(), { batchSize: 4, shuffle: false });
    const given = await latentSmoothness(new PoolAutoencoder(), loader, {
      ...opts,
      channelStd: ref.channelStd,
    });
    const twoPasses = await latentSmoothness(new PoolAutoencoder(), () => loader, opts);
    for (const r of [given, twoPasses]) {
      r.points.forEach((p, k) => {
        expect(p.mse).toBeCloseTo(ref.points[k].mse, 6);
      });
    }
    twoPasses.channelStd.forEach((v, i) => {
      expect(v).toBeCloseTo(ref.channelStd[i], 5);
    });
    // A loader read twice yields two different epochs: 'data' needs a re-readable form.
    await expect(latentSmoothness(new PoolAutoencoder(), loader, opts)).rejects.toThrow(/reads data twice/);
    expect(tf.memory().numTensors).toBe(before);
    await loader.close();
    x.dispose();
  });

  it('bad input: the error names the function, the argument and what was expected; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    await expect(computeReference(fakeExtractor(), { next: async () => null } as never)).rejects.toThrow(
      /computeReference: images must be an ImageBatchSource: a tf.Tensor4D \(the whole set\), an array, Iterable or AsyncIterable of image batches \(tf.Tensor4D or \{ images \}\), a DataLoader, or a function \(step\) => batch; got an object/,
    );
    await expect(
      evaluateReconstruction(new PoolAutoencoder(), 'x' as never, { extractor: null }),
    ).rejects.toThrow(/evaluateReconstruction: data must be an ImageBatchSource: .*got string/);
    async function* grey() {
      yield tf.zeros([2, 8, 8, 1]) as tf.Tensor4D;
    }
    await expect(evaluateReconstruction(new PoolAutoencoder(), grey(), { extractor: null })).rejects.toThrow(
      /evaluateReconstruction: batch 0 of data must be a float32 tf.Tensor4D \[b, H, W, 3\] in \[-1, 1\] \(or \{ images \}\), got float32 \[2,8,8,1\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
