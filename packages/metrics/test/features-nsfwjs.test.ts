import { setupBackend } from '@ldmae/core';
import { InceptionTrunk, type NsfwjsInceptionSource } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNsfwjsModel } from '../src/features/load.node.js';
import {
  KerasInception,
  NSFWJS_EXTRACTOR_NAME,
  NsfwjsFeatureExtractor,
  nsfwjsPreprocess,
} from '../src/index.node.js';

let source: NsfwjsInceptionSource;
let extractor: NsfwjsFeatureExtractor;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  source = await readNsfwjsModel();
  extractor = new NsfwjsFeatureExtractor(source, { size: 75 });
});

afterAll(() => extractor?.dispose());

describe('the offline nsfwjs InceptionV3 extractor', () => {
  it("agrees with @ldmae/losses' independent reading of the same graph on the frozen half (mixed5)", () => {
    const trunk = new InceptionTrunk(source, { taps: ['activation_3', 'mixed5'] });
    const x = tf.randomUniform([1, 83, 83, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const [a3, m5] = trunk.forward(x);
    const mine = extractor.net.forward(x, ['activation_3', 'mixed5']);
    expect(mine.taps[1].shape).toEqual(m5.shape);
    for (const [p, q] of [
      [mine.taps[0], a3],
      [mine.taps[1], m5],
    ]) {
      const u = p.dataSync();
      const v = q.dataSync();
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < u.length; i++) {
        worst = Math.max(worst, Math.abs(u[i] - v[i]));
        scale = Math.max(scale, Math.abs(v[i]));
      }
      expect(worst).toBeLessThan(1e-4 * scale);
    }
    tf.dispose([a3, m5, mine.pool, ...mine.taps, x]);
    trunk.dispose();
  });

  it("at 299 x 299, pool is the mean of mixed10's 8 x 8 map (the model's own 8x8 average pool)", () => {
    const x = tf.randomUniform([1, 299, 299, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
    const { pool, taps } = extractor.net.forward(x, ['mixed10']);
    expect(taps[0].shape).toEqual([1, 8, 8, 2048]);
    const want = tf.avgPool(taps[0], 8, 8, 'valid');
    const p = pool.dataSync();
    const w = want.dataSync();
    for (let i = 0; i < 2048; i += 31) expect(p[i]).toBeCloseTo(w[i], 5);
    tf.dispose([x, pool, ...taps, want]);
  });

  it("extracts 2048 finite non-negative features through nsfwjs's pipeline, named for what it is", async () => {
    expect(extractor.name).toBe(`${NSFWJS_EXTRACTOR_NAME}@75`);
    expect(NSFWJS_EXTRACTOR_NAME).toBe('nsfwjs-4.4.0-inceptionv3:flatten_1');
    expect(extractor.dims).toEqual({ pool: 2048 });
    expect(extractor.preprocessing).toMatch(/fine-tuned by nsfwjs.*not the FID Inception/);
    const images = tf.randomUniform([3, 40, 40, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const f = await extractor.extract(images);
    expect(tf.memory().numTensors).toBe(before);
    expect(f.pool.length).toBe(3 * 2048);
    expect(f.spatial).toBeUndefined();
    expect(f.pool.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    const direct = tf.tidy(() => extractor.net.forward(nsfwjsPreprocess(images, { size: 75 })).pool);
    const d = direct.dataSync();
    for (let i = 0; i < d.length; i += 53) expect(f.pool[i]).toBeCloseTo(d[i], 5);
    // Different images, different features.
    let diff = 0;
    for (let i = 0; i < 2048; i++) diff += Math.abs(f.pool[i] - f.pool[2048 + i]);
    expect(diff).toBeGreaterThan(1e-3);
    tf.dispose([direct, images]);
  });

  it('rejects what it cannot run', async () => {
    expect(() => new NsfwjsFeatureExtractor(source, { size: 50 })).toThrow(/>= 75/);
    expect(() => new KerasInception({ modelJson: {} as never, weightShards: [] })).toThrow(
      /tfjs layers model.json/,
    );
    expect(() => extractor.net.forward(tf.zeros([1, 74, 80, 3]) as tf.Tensor4D)).toThrow(/>= 75/);
    expect(() => extractor.net.forward(tf.zeros([1, 80, 80, 3]) as tf.Tensor4D, ['dense_1'])).toThrow(
      /no layer 'dense_1'/,
    );
    await expect(extractor.extract(tf.zeros([1, 80, 80]) as unknown as tf.Tensor4D)).rejects.toThrow(
      /\[n, H, W, 3\]/,
    );
  });
});
