import { type Progress, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  computeReference,
  evaluateGeneration,
  featureStats,
  frechetDistance,
  inceptionScore,
  pairwiseSquaredDistances,
  precisionRecall,
  tfDistanceBlock,
} from '../src/index.js';
import { fakeExtractor, fakeFeatures, values } from './eval-helpers.js';
import { bruteForcePrecisionRecall, cloud } from './stats-random.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const SHAPE = (n: number) => [n, 6, 6, 3] as [number, number, number, number];
const gen = values(10 * 108, 21, -0.8, 1);
const real = values(12 * 108, 22);

function stats(x: Float32Array, dim: number) {
  const s = featureStats(dim).add(x);
  return [s.mean(), s.covariance()] as const;
}

describe('evaluateGeneration', () => {
  it('equals FID, sFID, IS (chunks of 4) and P&R computed directly on the features', async () => {
    const g = tf.tensor4d(gen, SHAPE(10));
    const r = tf.tensor4d(real, SHAPE(12));
    const ex = fakeExtractor();
    const events: Progress[] = [];
    const before = tf.memory().numTensors;
    const out = await evaluateGeneration(g, r, {
      extractor: ex,
      batchSize: 4,
      inceptionScoreSplitSize: 4,
      onProgress: (p) => events.push(p),
    });
    expect(tf.memory().numTensors).toBe(before);
    const fg = fakeFeatures(gen, SHAPE(10));
    const fr = fakeFeatures(real, SHAPE(12));
    const [mg, sg] = stats(fg.pool, 4);
    const [mr, sr] = stats(fr.pool, 4);
    expect(out.fid).toBeCloseTo(frechetDistance(mr, sr, mg, sg), 9);
    const [msg, ssg] = stats(fg.spatial, 3);
    const [msr, ssr] = stats(fr.spatial, 3);
    expect(out.sfid).toBeCloseTo(frechetDistance(msr, ssr, msg, ssg), 9);
    const is = inceptionScore(fg.logits, 3, { splitSize: 4 });
    expect(is.scores.length).toBe(3);
    expect(out.inceptionScore).toBeCloseTo(is.mean, 12);
    expect(out.inceptionScoreStd).toBeCloseTo(is.std, 12);
    const pr = precisionRecall(fr.pool, fg.pool, 4);
    expect([out.precision, out.recall]).toEqual([pr.precision, pr.recall]);
    expect(out).toMatchObject({
      extractor: 'fake-extractor',
      count: 10,
      referenceCount: 12,
      precisionRecallSamples: { generated: 10, reference: 12 },
    });
    expect(events.filter((e) => e.phase === 'reference-features').map((e) => e.done)).toEqual([4, 8, 12]);
    expect(events.filter((e) => e.phase === 'generated-features').map((e) => [e.done, e.total])).toEqual([
      [4, 10],
      [8, 10],
      [10, 10],
    ]);
    tf.dispose([g, r]);
  });

  it('draws from a sampler in batches, and gives the numbers of the same images as a tensor', async () => {
    const ex = fakeExtractor();
    const ref = await computeReference(ex, tf.tensor4d(real, SHAPE(12)));
    const calls: [number, number][] = [];
    const sampler = {
      sample(n: number, i: number) {
        calls.push([n, i]);
        return tf.tensor4d(gen.subarray(4 * i * 108, (4 * i + n) * 108), SHAPE(n));
      },
    };
    const before = tf.memory().numTensors;
    const a = await evaluateGeneration(sampler, ref, { extractor: ex, numSamples: 10, batchSize: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toEqual([
      [4, 0],
      [4, 1],
      [2, 2],
    ]);
    const b = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, { extractor: ex });
    expect(a.fid).toBeCloseTo(b.fid, 12);
    expect(a.inceptionScore).toBeCloseTo(b.inceptionScore as number, 12);
    expect([a.precision, a.recall]).toEqual([b.precision, b.recall]);
    // A subsample for P&R: at most maxSamples features per side.
    const c = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), tf.tensor4d(real, SHAPE(12)), {
      extractor: ex,
      precisionRecall: { maxSamples: 5 },
    });
    expect(c.precisionRecallSamples).toEqual({ generated: 5, reference: 5 });
    expect(c.fid).toBeCloseTo(b.fid, 9);
    const noSfid = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, { extractor: ex, sfid: false });
    expect(noSfid.sfid).toBeNull();
    expect(b.sfid).not.toBeNull();
  });

  it('computes precision / recall with the given distanceBlock, and with the default kernel without one', async () => {
    const ex = fakeExtractor();
    const ref = await computeReference(ex, tf.tensor4d(real, SHAPE(12)));
    let calls = 0;
    const counted = (...a: Parameters<typeof pairwiseSquaredDistances>) => {
      calls++;
      return pairwiseSquaredDistances(...a);
    };
    const given = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, {
      extractor: ex,
      precisionRecall: { distanceBlock: counted, blockSize: 4 },
    });
    // 12 reference and 10 generated rows in blocks of 4: 3 x 3 + 3 x 3 own-set blocks, then 3 x 3 cross blocks.
    expect(calls).toBeGreaterThanOrEqual(18);
    const fg = fakeFeatures(gen, SHAPE(10)).pool;
    const fr = fakeFeatures(real, SHAPE(12)).pool;
    const want = precisionRecall(fr, fg, 4, { distanceBlock: pairwiseSquaredDistances, blockSize: 4 });
    expect([given.precision, given.recall]).toEqual([want.precision, want.recall]);
    calls = 0;
    let dflt: Awaited<ReturnType<typeof evaluateGeneration>> | undefined;
    const info = await tf.profile(async () => {
      dflt = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, { extractor: ex });
      return [];
    });
    if (!dflt) throw new Error('no result');
    expect(calls).toBe(0);
    // The package's kernel, not float32 tf.matMul blocks on the backend.
    expect(info.kernelNames).not.toContain('BatchMatMul');
    const pr = precisionRecall(fr, fg, 4);
    expect([dflt.precision, dflt.recall]).toEqual([pr.precision, pr.recall]);
  });

  it('refuses a reference from another extractor before drawing a single sample', async () => {
    const ex = fakeExtractor();
    const ref = await computeReference(fakeExtractor('other-net'), tf.tensor4d(real, SHAPE(12)));
    let drawn = 0;
    const sampler = {
      sample(n: number) {
        drawn++;
        return tf.zeros(SHAPE(n)) as tf.Tensor4D;
      },
    };
    await expect(evaluateGeneration(sampler, ref, { extractor: ex, numSamples: 4 })).rejects.toThrow(
      /refusing to compare the reference and the extractor from different feature extractors \('fake-extractor' vs 'other-net'\)/,
    );
    expect(drawn).toBe(0);
    expect(ex.calls).toBe(0);
  });

  it('skips what the extractor or the reference cannot give, and says why when asked for it', async () => {
    const plain = fakeExtractor('plain', false);
    const ref = await computeReference(plain, tf.tensor4d(real, SHAPE(12)));
    const out = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, { extractor: plain });
    expect(out.sfid).toBeNull();
    expect(out.inceptionScore).toBeNull();
    expect(out.precision).not.toBeNull();
    const statsOnly = { ...ref, features: null, images: null };
    await expect(
      evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), statsOnly, { extractor: plain }),
    ).rejects.toThrow(/precision \/ recall need reference features.*precisionRecall: false/);
    const noPr = await evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), statsOnly, {
      extractor: plain,
      precisionRecall: false,
    });
    expect(noPr.fid).toBeCloseTo(out.fid, 12);
    expect(noPr.precision).toBeNull();
    await expect(
      evaluateGeneration({ sample: () => tf.zeros([1]) } as never, ref, { extractor: plain }),
    ).rejects.toThrow(/opts.numSamples/);
    await expect(
      evaluateGeneration(tf.tensor4d(gen.subarray(0, 108), SHAPE(1)), ref, { extractor: plain }),
    ).rejects.toThrow(/at least 2 generated images/);
    await expect(
      evaluateGeneration(tf.tensor4d(gen, SHAPE(10)), ref, { extractor: plain, inceptionScoreSplitSize: -1 }),
    ).rejects.toThrow(/inceptionScoreSplitSize/);
    await expect(
      evaluateGeneration({ sample: (n: number) => tf.zeros([n + 1, 6, 6, 3]) } as never, ref, {
        extractor: plain,
        numSamples: 3,
      }),
    ).rejects.toThrow(/must return a tf.Tensor4D of 3 images/);
  });
});

describe('precision / recall with the tfjs distance block', () => {
  it('equals brute force for every block size, leaking no tensor', () => {
    const block = tfDistanceBlock();
    for (const [nr, nf, dim, seed] of [
      [37, 29, 5, 1],
      [20, 45, 8, 2],
      [64, 64, 3, 3],
    ]) {
      const r = Float32Array.from(cloud(nr, dim, seed, 0));
      const f = Float32Array.from(cloud(nf, dim, seed + 10, 0.6));
      const { precision, recall } = bruteForcePrecisionRecall(r, f, dim, 3);
      const want = { precision, recall };
      const before = tf.memory().numTensors;
      for (const blockSize of [1, 7, 16, 1024]) {
        expect(precisionRecall(r, f, dim, { blockSize, distanceBlock: block })).toEqual(want);
      }
      expect(tf.memory().numTensors).toBe(before);
      expect(precisionRecall(r, f, dim, { blockSize: 5 })).toEqual(want);
    }
  });

  it("gives the float64 kernel's distances to float32 accuracy", () => {
    const a = Float32Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i) * 10);
    const b = Float32Array.from({ length: 5 * 4 }, (_, i) => Math.cos(i) * 10);
    const d = tfDistanceBlock()(a, 6, b, 5, 4);
    expect(d.length).toBe(30);
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let t = 0; t < 4; t++) s += (a[i * 4 + t] - b[j * 4 + t]) ** 2;
        expect(d[i * 5 + j]).toBeCloseTo(s, 3);
      }
  });
});
