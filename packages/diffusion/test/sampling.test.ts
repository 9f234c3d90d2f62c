import { type Autoencoder, type LatentDistribution, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  DDPMScheduler,
  FlowEulerScheduler,
  FlowHeunScheduler,
  guidedPrediction,
  LatentDiffusion,
  LightningDiT,
  type SampleProgress,
  sampleLoop,
} from '../src/index.js';
import { FnDenoiser, maxAbsDiff, randomize } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

function tinyModel(nullClass = true): LightningDiT {
  const m = new LightningDiT({
    preset: 'LightningDiT-Nano/1',
    inputSize: 4,
    inChannels: 4,
    numClasses: 3,
    classDropoutProb: nullClass ? 0.1 : 0,
  });
  randomize(m, 11, 0.2);
  return m;
}

describe('classifier-free guidance', () => {
  const x = () => tf.randomNormal([2, 4, 4, 4], 0, 1, 'float32', 3);

  it('scale 1 is exactly the conditional prediction (one call)', () => {
    const m = tinyModel();
    const xs = x();
    const cond = m.forward(xs, [0.4, 0.4], [1, 2]);
    const g = guidedPrediction(m, xs, 0.4, [1, 2], { scale: 1 });
    expect(maxAbsDiff(g, cond)).toBe(0);
    const plain = guidedPrediction(m, xs, 0.4, [1, 2], null);
    expect(maxAbsDiff(plain, cond)).toBe(0);
    tf.dispose([xs, cond, g, plain]);
    m.dispose();
  });

  it('scale s gives uncond + s (cond - uncond), inside the interval only; channels limits it', () => {
    const m = tinyModel();
    const xs = x();
    const cond = m.forward(xs, [0.5, 0.5], [0, 2]);
    const uncond = m.forward(xs, [0.5, 0.5], [3, 3]);
    const want = tf.add(uncond, tf.mul(tf.sub(cond, uncond), 4));
    const g = guidedPrediction(m, xs, 0.5, [0, 2], { scale: 4, interval: [0.1, 1] });
    expect(maxAbsDiff(g, want)).toBeLessThan(1e-4);
    expect(maxAbsDiff(g, cond)).toBeGreaterThan(1e-2);
    // Outside the interval (t < 0.1, the noisy end): the conditional prediction.
    const cond0 = m.forward(xs, [0.05, 0.05], [0, 2]);
    const g0 = guidedPrediction(m, xs, 0.05, [0, 2], { scale: 4, interval: [0.1, 1] });
    expect(maxAbsDiff(g0, cond0)).toBe(0);
    // The reference's quirk: only the first 3 channels guided, the 4th conditional.
    const q = guidedPrediction(m, xs, 0.5, [0, 2], { scale: 4, channels: 3 });
    const head = (t: tf.Tensor) => tf.slice(t, [0, 0, 0, 0], [-1, -1, -1, 3]);
    const tail = (t: tf.Tensor) => tf.slice(t, [0, 0, 0, 3], [-1, -1, -1, 1]);
    const parts = [head(q), head(want), tail(q), tail(cond)];
    expect(maxAbsDiff(parts[0], parts[1])).toBeLessThan(1e-4);
    expect(maxAbsDiff(parts[2], parts[3])).toBe(0);
    tf.dispose([xs, cond, uncond, want, g, cond0, g0, q, ...parts]);
    m.dispose();
  });

  it('rejects guidance without a null class and bad options', () => {
    const m = tinyModel(false);
    const xs = x();
    expect(() => guidedPrediction(m, xs, 0.5, [0, 1], { scale: 2 })).toThrow(/null class/);
    expect(() => guidedPrediction(m, xs, 0.5, [0, 1], { scale: 1, channels: 5 })).toThrow(/channels/);
    expect(() => guidedPrediction(m, xs, 0.5, [0, 1], { scale: 2, interval: [1, 0] })).toThrow(/interval/);
    tf.dispose(xs);
    m.dispose();
  });
});

/** decode: 2x nearest upsampling of the first 3 channels, times 3 (so clipping matters). */
class FakeAutoencoder implements Autoencoder {
  readonly name = 'fake';
  latentNormalization = { shift: [0.5, -1, 0, 2], scale: [2, 1, 0.5, 4] };
  decodedWith: number[][] = [];
  encode(): LatentDistribution {
    throw new Error('not used');
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.decodedWith.push(Array.from(z.dataSync()));
    return tf.tidy(() => {
      const rgb = tf.slice(z, [0, 0, 0, 0], [-1, -1, -1, 3]) as tf.Tensor4D;
      return tf.mul(tf.image.resizeNearestNeighbor(rgb, [z.shape[1] * 2, z.shape[2] * 2]), 3) as tf.Tensor4D;
    });
  }
  latentShape(s: [number, number, number]): [number, number, number] {
    return [s[0] / 2, s[1] / 2, 4];
  }
  dispose(): void {}
}

describe('LatentDiffusion', () => {
  it('samples the flow to its target, denormalises, decodes and clips to [-1, 1]', async () => {
    const target = Array.from({ length: 16 * 4 }, (_, i) => Math.sin(i) * 0.4);
    const d = tf.tensor4d(target, [1, 4, 4, 4]);
    const den = new FnDenoiser([4, 4, 4], (x, t) => tf.div(tf.sub(d, x), 1 - t[0]));
    const ae = new FakeAutoencoder();
    const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: den });
    const imgs = await ldm.sample({ n: 2, steps: 5 });
    expect(imgs.shape).toEqual([2, 8, 8, 3]);
    const v = imgs.dataSync();
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    // The decoder saw z / scale + shift of the target, per channel.
    const z = ae.decodedWith[0];
    for (let i = 0; i < target.length; i++) {
      const c = i % 4;
      expect(z[i]).toBeCloseTo(
        target[i] / ae.latentNormalization.scale[c] + ae.latentNormalization.shift[c],
        4,
      );
    }
    tf.dispose([d, imgs]);
  });

  it('is deterministic for a seed, independent of the batch size, and streams progress', async () => {
    const m = tinyModel();
    const ae = new FakeAutoencoder();
    for (const scheduler of [
      new FlowEulerScheduler({ shift: 0.3 }),
      new FlowHeunScheduler(),
      new DDPMScheduler(),
    ]) {
      const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: m, scheduler });
      const events: SampleProgress[] = [];
      const a = await ldm.sample({
        n: 5,
        steps: 3,
        seed: 7,
        batchSize: 2,
        cfg: 2,
        onProgress: (e) => events.push(e),
      });
      const b = await ldm.sample({ n: 5, steps: 3, seed: 7, batchSize: 5, cfg: 2 });
      const c = await ldm.sample({ n: 5, steps: 3, seed: 8, batchSize: 5, cfg: 2 });
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
      const calls = scheduler.timesteps.length;
      expect(events.length).toBe(3 * calls);
      expect(events.map((e) => e.batch)).toEqual([0, 1, 2].flatMap((bi) => new Array(calls).fill(bi)));
      expect(events.at(-1)?.done).toBeCloseTo(5, 10);
      expect(
        events.every(
          (e, i) => e.phase === 'sample' && e.total === 5 && (i === 0 || e.done >= events[i - 1].done),
        ),
      ).toBe(true);
      tf.dispose([a, b, c]);
    }
    m.dispose();
  });

  it('labels: random from the seed when omitted, in range; given ones are checked', () => {
    const m = tinyModel();
    const ldm = new LatentDiffusion({ autoencoder: new FakeAutoencoder(), denoiser: m });
    const l1 = ldm.labelsFor(50, null, 3);
    expect(Array.from(l1).every((v) => v >= 0 && v < 3)).toBe(true);
    expect(new Set(l1).size).toBe(3);
    expect(Array.from(ldm.labelsFor(50, null, 3))).toEqual(Array.from(l1));
    expect(Array.from(ldm.labelsFor(3, 2, 0))).toEqual([2, 2, 2]);
    expect(() => ldm.labelsFor(2, [0, 3], 0)).toThrow(/classes must be integers in \[0, 3\)/);
    expect(() => ldm.labelsFor(2, [0], 0)).toThrow(/n = 2/);
    m.dispose();
  });

  it('no tensor growth over sampling; bad options fail before work; abort stops', async () => {
    const m = tinyModel();
    const ldm = new LatentDiffusion({ autoencoder: new FakeAutoencoder(), denoiser: m });
    const warm = await ldm.sample({ n: 2, steps: 2, cfg: { scale: 3, interval: [0.1, 1] } });
    warm.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      const imgs = await ldm.sample({
        n: 3,
        steps: 4,
        batchSize: 2,
        cfg: { scale: 3, interval: [0.1, 1], channels: 3 },
      });
      imgs.dispose();
      for await (const batch of ldm.sampleBatches({ n: 3, steps: 2, batchSize: 2 })) batch.images.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    await expect(ldm.sample({ n: 0, steps: 2 })).rejects.toThrow(/n must be/);
    await expect(ldm.sample({ n: 2, steps: 2, batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(ldm.sample({ n: 2, steps: 2, classes: [0, 7] })).rejects.toThrow(/classes/);
    const ac = new AbortController();
    ac.abort();
    await expect(ldm.sample({ n: 2, steps: 2, signal: ac.signal })).rejects.toThrow(/aborted/);
    expect(tf.memory().numTensors).toBe(before);
    expect(
      () =>
        new LatentDiffusion({
          autoencoder: new FakeAutoencoder(),
          denoiser: m,
          normalization: { shift: [0], scale: [1] },
        }),
    ).toThrow(/4 shift/);
    m.dispose();
  });

  it('refuses a scheduler of the wrong prediction type and an autoencoder of other latents, before any work', async () => {
    const den = new FnDenoiser([4, 4, 4], (x) => tf.zerosLike(x));
    const ae = new FakeAutoencoder();
    const eps = new DDIMScheduler({ numTrainTimesteps: 100 });
    expect(
      () => new LatentDiffusion({ autoencoder: ae, denoiser: den, scheduler: eps, prediction: 'velocity' }),
    ).toThrow(/the scheduler expects epsilon predictions, the denoiser was trained to predict velocity/);
    const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: den, prediction: 'velocity' });
    await expect(ldm.sample({ n: 1, steps: 2, scheduler: eps })).rejects.toThrow(
      /expects epsilon predictions/,
    );
    expect(den.calls).toBe(0);
    // A 16-channel autoencoder (SD-VAE-like) under a 4-channel denoiser.
    const wide = Object.assign(new FakeAutoencoder(), {
      latentShape: (s: [number, number, number]): [number, number, number] => [s[0] / 8, s[1] / 8, 16],
    });
    expect(() => new LatentDiffusion({ autoencoder: wide, denoiser: den, normalization: null })).toThrow(
      /makes 16-channel latents, the denoiser takes 4/,
    );
    eps.dispose();
    ldm.scheduler.dispose();
  });

  it('dispose releases the autoencoder, the denoiser and the scheduler', async () => {
    const m = tinyModel();
    const before = tf.memory().numTensors;
    let aeDisposed = 0;
    const ae = Object.assign(new FakeAutoencoder(), { dispose: () => aeDisposed++ });
    const ldm = new LatentDiffusion({ autoencoder: ae, denoiser: m });
    (await ldm.sample({ n: 1, steps: 2 })).dispose();
    ldm.dispose();
    ldm.dispose();
    expect(aeDisposed).toBe(1);
    expect(tf.memory().numTensors).toBeLessThan(before);
    await expect(ldm.sample({ n: 1, steps: 2 })).rejects.toThrow(/has been disposed/);
  });

  it('sampleLoop checks labels and needs a schedule', async () => {
    const den = new FnDenoiser([1, 1, 1], (x) => tf.zerosLike(x), 3, 3);
    const noise = tf.zeros([2, 1, 1, 1]);
    const s = new FlowEulerScheduler();
    await expect(sampleLoop({ denoiser: den, scheduler: s, noise })).rejects.toThrow(/no timesteps/);
    await expect(
      sampleLoop({ denoiser: den, scheduler: s, noise, steps: 2, labels: [0, 4] }),
    ).rejects.toThrow(/labels must be in \[0, 4\)/);
    await expect(sampleLoop({ denoiser: den, scheduler: s, noise, steps: 2, labels: [0] })).rejects.toThrow(
      /2 values/,
    );
    noise.dispose();
  });
});
