import { type Progress, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  evaluateReconstruction as evaluateReconstructionBrowser,
  featureStats,
  frechetDistance,
  imageBatch,
  l1,
  mse,
  psnr,
  quantizeToUint8,
  ssim,
} from '../src/index.js';
import { evaluateReconstruction } from '../src/index.node.js';
import {
  fakeExtractor,
  fakeFeatures,
  fakeLpips,
  PoolAutoencoder,
  poolReconstruct,
  values,
} from './eval-helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const SHAPE = [5, 8, 8, 3];
const data = values(5 * 8 * 8 * 3, 3);

describe('evaluateReconstruction', () => {
  it('matches the metrics computed directly on the hand-made reconstructions', async () => {
    const x = tf.tensor4d(data, SHAPE as [number, number, number, number]);
    const ae = new PoolAutoencoder();
    const ex = fakeExtractor();
    const before = tf.memory().numTensors;
    const events: Progress[] = [];
    const r = await evaluateReconstruction(ae, x, {
      extractor: ex,
      lpips: fakeLpips,
      batchSize: 2,
      onProgress: (p) => events.push(p),
    });
    expect(tf.memory().numTensors).toBe(before);
    const y = poolReconstruct(data, SHAPE);
    const a = imageBatch(data, SHAPE as [number, number, number, number]);
    const b = imageBatch(y, SHAPE as [number, number, number, number]);
    expect(r.count).toBe(5);
    expect(r.psnr).toBeCloseTo(psnr(quantizeToUint8(a), quantizeToUint8(b)), 6);
    expect(r.ssim).toBeCloseTo(ssim(a, b, { dataRange: [-1, 1] }), 6);
    expect(r.l1).toBeCloseTo(l1(a, b), 6);
    expect(r.mse).toBeCloseTo(mse(a, b), 6);
    // The fake LPIPS is the per-image mean |x - y|: its mean over images is L1 (images of one size).
    expect(r.lpips).toBeCloseTo(l1(a, b), 6);
    const fr = featureStats(4).add(fakeFeatures(data, SHAPE).pool);
    const ff = featureStats(4).add(fakeFeatures(y, SHAPE).pool);
    expect(r.rfid).toBeCloseTo(frechetDistance(fr.mean(), fr.covariance(), ff.mean(), ff.covariance()), 6);
    expect(r.extractor).toBe('fake-extractor');
    expect(r.lpipsNet).toBe('lpips[fake-trunk, lin uniform]');
    // Batches of 2, 2, 1: three events, counting images.
    expect(events.map((e) => [e.phase, e.done, e.total])).toEqual([
      ['reconstruction', 2, 5],
      ['reconstruction', 4, 5],
      ['reconstruction', 5, 5],
    ]);
    expect(ex.disposed).toBe(false);
    x.dispose();
  });

  it('hand values: blockwise constant images come back exactly; a +-a checkerboard inside blocks costs a', async () => {
    const n = 2;
    const S = 8;
    const exact = new Float32Array(n * S * S * 3);
    const checker = new Float32Array(n * S * S * 3);
    const a = 0.25;
    for (let i = 0; i < n; i++)
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++)
          for (let c = 0; c < 3; c++) {
            const k = ((i * S + y) * S + x) * 3 + c;
            const base = 0.05 * (Math.floor(y / 2) * 4 + Math.floor(x / 2)) - 0.2 * c + 0.05 * i - 0.3;
            exact[k] = base;
            checker[k] = base + ((x + y) % 2 === 0 ? a : -a);
          }
    const r0 = await evaluateReconstruction(new PoolAutoencoder(), tf.tensor4d(exact, [n, S, S, 3]), {
      extractor: null,
    });
    expect(r0).toMatchObject({
      count: 2,
      psnr: Number.POSITIVE_INFINITY,
      l1: 0,
      mse: 0,
      rfid: null,
      lpips: null,
      extractor: null,
    });
    expect(r0.ssim).toBeCloseTo(1, 12);
    const r1 = await evaluateReconstruction(new PoolAutoencoder(), [tf.tensor4d(checker, [n, S, S, 3])], {
      extractor: null,
    });
    expect(r1.l1).toBeCloseTo(a, 6);
    expect(r1.mse).toBeCloseTo(a * a, 6);
  });

  it('reads (async) iterables and consumes their batches; latent "sample" of a deterministic posterior is the mean', async () => {
    const batches = [
      tf.tensor4d(data.subarray(0, 3 * 192), [3, 8, 8, 3]),
      tf.tensor4d(data.subarray(3 * 192), [2, 8, 8, 3]),
    ];
    async function* gen() {
      yield* batches.map((images) => ({ images, labels: tf.tensor1d([1, 2]) }));
    }
    const before = tf.memory().numTensors;
    const r = await evaluateReconstruction(new PoolAutoencoder(), gen(), {
      extractor: null,
      latent: 'sample',
      seed: 3,
    });
    expect(batches.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before - 2);
    const ref = await evaluateReconstruction(new PoolAutoencoder(), tf.tensor4d(data, [5, 8, 8, 3]), {
      extractor: null,
    });
    expect(r.mse).toBeCloseTo(ref.mse, 6);
    expect(r.psnr).toBeCloseTo(ref.psnr, 4);
  });

  it('the Node entry loads the offline extractor when none is given; the browser entry requires one', async () => {
    const x = tf.tensor4d(values(2 * 76 * 76 * 3, 8), [2, 76, 76, 3]);
    await expect(evaluateReconstructionBrowser(new PoolAutoencoder(), x)).rejects.toThrow(
      /opts.extractor is required/,
    );
    const r = await evaluateReconstruction(new PoolAutoencoder(), x, { batchSize: 2 });
    expect(r.extractor).toBe('nsfwjs-4.4.0-inceptionv3:flatten_1');
    expect(r.rfid).toBeGreaterThan(0);
    x.dispose();
  });

  it('rejects bad input before any work', async () => {
    const ae = new PoolAutoencoder();
    const x = tf.tensor4d(data, [5, 8, 8, 3]);
    const ex = fakeExtractor();
    const one = tf.tensor4d(data.subarray(0, 192), [1, 8, 8, 3]);
    const bad: [Parameters<typeof evaluateReconstruction>, RegExp][] = [
      [[{} as never, x, { extractor: ex }], /autoencoder must be an Autoencoder/],
      [
        [ae, 42 as never, { extractor: ex }],
        /evaluateReconstruction: data must be an ImageBatchSource: .*got number/,
      ],
      [[ae, x, { extractor: { name: 'x' } as never }], /FeatureExtractor/],
      [[ae, x, { extractor: ex, batchSize: 0 }], /opts.batchSize/],
      [[ae, x, { extractor: ex, lpips: {} as never }], /opts.lpips/],
      [[ae, x, { extractor: ex, latent: 'mode' as 'mean' }], /opts.latent/],
      [[ae, one, { extractor: ex }], /at least 2 images/],
    ];
    for (const [args, error] of bad) await expect(evaluateReconstruction(...args)).rejects.toThrow(error);
    expect(ex.calls).toBe(0);
    expect(ae.decodeCalls).toBe(0);
    await expect(
      evaluateReconstruction(ae, [tf.zeros([2, 8, 8])] as never, { extractor: null }),
    ).rejects.toThrow(/batch 0 of data must be a float32 tf.Tensor4D/);
    const wrong = new PoolAutoencoder();
    wrong.decode = (z) => tf.zeros([z.shape[0], 3, 3, 3]);
    await expect(evaluateReconstruction(wrong, x, { extractor: null })).rejects.toThrow(
      /decoded to \[5,3,3,3\], expected.*\[5,8,8,3\]/,
    );
    x.dispose();
  });
});
