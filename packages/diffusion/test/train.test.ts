import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckpointPayload,
  createRng,
  type HostTensor,
  loadCheckpoint,
  saveCheckpoint,
  serializeSafetensors,
  setupBackend,
} from '@ldmae/core';
import { LATENT_CACHE_FORMAT, type LatentCacheManifest, LatentLoader, MemoryLatentSource } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusionTrainer, denoiserFromCheckpoint, EpsilonObjective, LightningDiT } from '../src/index.js';
import { FnDenoiser, maxAbsDiff } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ldmae-diffusion-'));
beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A labelled latent cache of 10 items [2, 2, 3] with flips, held in memory. */
function cache(): MemoryLatentSource {
  const n = 10;
  const per = 2 * 2 * 3;
  const rng = createRng(42);
  const f32 = (scale: number, shift = 0): HostTensor => ({
    dtype: 'float32',
    shape: [n, 2, 2, 3],
    data: Float32Array.from(rng.normalArray(n * per, shift, scale)),
  });
  const tensors = {
    mean: f32(1),
    logvar: f32(0.1, -3),
    mean_flip: f32(1),
    logvar_flip: f32(0.1, -3),
    indices: { dtype: 'int32', shape: [n], data: Int32Array.from({ length: n }, (_, i) => i) } as HostTensor,
    labels: {
      dtype: 'int32',
      shape: [n],
      data: Int32Array.from({ length: n }, (_, i) => i % 3),
    } as HostTensor,
  };
  const manifest: LatentCacheManifest = {
    format: LATENT_CACHE_FORMAT,
    version: 1,
    autoencoder: 'test',
    imageShape: [16, 16, 3],
    latentShape: [2, 2, 3],
    count: n,
    flip: true,
    labelled: true,
    shards: [{ file: 'shard-00000.safetensors', count: n }],
  };
  return new MemoryLatentSource(manifest, [serializeSafetensors(tensors)]);
}

const makeModel = () =>
  new LightningDiT(
    { preset: 'LightningDiT-Nano/1', inputSize: 2, inChannels: 3, numClasses: 3, qkNorm: true },
    { seed: 1 },
  );
const loader = (source: MemoryLatentSource) =>
  new LatentLoader(source, { batchSize: 4, seed: 3, prefetch: 0 });

function copyPayload(p: CheckpointPayload): CheckpointPayload {
  return {
    tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, t]) => [k, tf.keep(t.clone())])),
    metadata: { ...p.metadata },
  };
}

describe('DiffusionTrainer on a latent cache', () => {
  it('uses the paper recipe by default', () => {
    const m = makeModel();
    const tr = new DiffusionTrainer({ denoiser: m });
    expect(tr.optimizer.lr).toBe(2e-4);
    expect(tr.optimizer.betas).toEqual([0.9, 0.95]);
    expect(tr.optimizer.weightDecay).toBe(0);
    expect(tr.ema?.decay).toBe(0.9999);
    expect(tr.labelDropout).toBe(0.1);
    expect(tr.objective.toJSON()).toEqual({
      type: 'rectified-flow',
      timeSampling: { kind: 'logit-normal', mu: 0, sigma: 1 },
    });
    tr.dispose();
    m.dispose();
  });

  it('dispose frees everything the trainer made (optimiser moments, EMA shadows)', async () => {
    const m = makeModel();
    const before = tf.memory().numTensors;
    const tr = new DiffusionTrainer({ denoiser: m, ema: 0.99, emaWarmup: true });
    await tr.train({ data: loader(cache()), steps: 2 });
    expect(tr.ema?.updates).toBe(2);
    expect(tr.ema?.getStateJson()).toEqual({ decay: 0.99, updates: 2, warmup: true });
    tr.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('draws a LatentLoader across epochs (its for-await form is one epoch)', async () => {
    const m = makeModel();
    const tr = new DiffusionTrainer({ denoiser: m, ema: false });
    const l = loader(cache());
    expect(l.stepsPerEpoch).toBe(3);
    const before = tf.memory().numTensors;
    const r = await tr.train({ data: l, steps: 7 });
    expect(r.stopReason).toBe('completed');
    expect(l.step).toBe(7);
    expect(tf.memory().numTensors).toBe(before);
    let batches = 0;
    for await (const b of l) {
      batches++;
      tf.dispose([b.latents, b.labels!]);
    }
    expect(batches).toBe(2); // the rest of epoch 2 (steps 7, 8)
    tr.dispose();
    m.dispose();
  });

  it('resumes exactly from a checkpoint file (model, optimiser, EMA, generator, loader position)', async () => {
    const source = cache();
    // Straight run: 6 steps.
    const mA = makeModel();
    const tA = new DiffusionTrainer({ denoiser: mA, lr: 1e-3, ema: 0.9, seed: 2 });
    const before = tf.memory().numTensors;
    const rA = await tA.train({ data: loader(source), steps: 6 });
    expect(tf.memory().numTensors).toBe(before);
    expect(rA.losses.every(Number.isFinite)).toBe(true);

    // 3 steps, checkpoint to disk, then a fresh process-like restart resumes to 6.
    const mB = makeModel();
    const tB = new DiffusionTrainer({ denoiser: mB, lr: 1e-3, ema: 0.9, seed: 2 });
    const path = join(dir, 'ckpt.safetensors');
    let mid: CheckpointPayload | null = null;
    await tB.train({
      data: loader(source),
      steps: 3,
      checkpoint: {
        every: 3,
        save: async (p) => {
          mid = copyPayload(p);
          await saveCheckpoint(path, p);
        },
      },
    });
    const payload = await loadCheckpoint(path);
    const mC = makeModel();
    const tC = new DiffusionTrainer({ denoiser: mC, lr: 1e-3, ema: 0.9, seed: 99 });
    const rC = await tC.train({ data: loader(source), steps: 6, resume: payload });
    expect(rC.losses).toEqual(rA.losses.slice(3));
    const sA = mA.stateDict();
    const sC = mC.stateDict();
    for (const k of Object.keys(sA)) expect(maxAbsDiff(sA[k], sC[k])).toBe(0);
    const eA = tA.ema!.stateDict();
    const eC = tC.ema!.stateDict();
    for (const k of Object.keys(eA)) expect(maxAbsDiff(eA[k], eC[k])).toBe(0);
    expect(tC.rng.getState()).toEqual(tA.rng.getState());

    // The checkpoint rebuilds the denoiser with its EMA weights (the default) or its live weights.
    const fromEma = denoiserFromCheckpoint(mid!);
    const eB = tB.ema!.stateDict();
    const sE = fromEma.stateDict();
    for (const k of Object.keys(eB)) expect(maxAbsDiff(eB[k], sE[k])).toBe(0);
    expect(fromEma.toJSON()).toEqual(mB.toJSON());
    const live = denoiserFromCheckpoint(mid!, { weights: 'model' });
    const sB = mB.stateDict();
    const sL = live.stateDict();
    for (const k of Object.keys(sB)) expect(maxAbsDiff(sB[k], sL[k])).toBe(0);

    tf.dispose([...[sA, sC, eA, eC, eB, sE, sB, sL].flatMap((d) => Object.values(d))]);
    tf.dispose([...Object.values(payload.tensors), ...Object.values(mid!.tensors)]);
    for (const [t, m] of [
      [tA, mA],
      [tB, mB],
      [tC, mC],
    ] as const) {
      t.dispose();
      m.dispose();
    }
    fromEma.dispose();
    live.dispose();
  });

  it('label dropout sends the configured share of labels to the null class', () => {
    const m = makeModel();
    const seen: number[] = [];
    const forward = m.forward.bind(m);
    m.forward = (x, t, y) => {
      if (y instanceof tf.Tensor) seen.push(...y.dataSync());
      return forward(x, t, y);
    };
    const tr = new DiffusionTrainer({ denoiser: m, labelDropout: 0.25, seed: 5 });
    const x = tf.zeros([200, 2, 2, 3]);
    const y = tf.tensor1d(
      Int32Array.from({ length: 200 }, (_, i) => i % 3),
      'int32',
    );
    for (let i = 0; i < 5; i++) tf.tidy(() => tr.lossFn({ latents: x, labels: y }, i));
    const share = seen.filter((v) => v === 3).length / seen.length;
    expect(seen.length).toBe(1000);
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    // Labels that are not dropped are kept as given.
    expect(seen.every((v, i) => v === 3 || v === (i % 200) % 3)).toBe(true);
    tf.dispose([x, y]);
    tr.dispose();
    m.dispose();
  });

  it('rejects bad batches and options', () => {
    const m = makeModel();
    const tr = new DiffusionTrainer({ denoiser: m });
    const x = tf.zeros([2, 2, 2, 3]);
    expect(() => tr.lossFn({ latents: x }, 0)).toThrow(/no labels but the denoiser has 3 classes/);
    const bad = tf.tensor1d([0, 3], 'int32');
    expect(() => tr.lossFn({ latents: x, labels: bad }, 0)).toThrow(/labels must be in \[0, 3\)/);
    expect(() => tr.lossFn({ latents: tf.zeros([2, 3]) } as never, 0)).toThrow(/\[B, h, w, c\]/);
    const uncond = new LightningDiT({
      preset: 'LightningDiT-Nano/1',
      inputSize: 2,
      inChannels: 3,
      numClasses: 1,
      classDropoutProb: 0,
    });
    expect(() => new DiffusionTrainer({ denoiser: uncond, labelDropout: 0.1 })).toThrow(/null class/);
    expect(() => new DiffusionTrainer({ denoiser: m, ema: 2 })).toThrow(/ema/);
    tf.dispose([x, bad]);
    tr.dispose();
    m.dispose();
    uncond.dispose();
  });
});

describe('epsilon objective', () => {
  it('is the mean squared error to the noise at uniform integer steps, by hand', () => {
    const obj = new EpsilonObjective({ numTrainTimesteps: 100 });
    // eps_theta(x, t, y) = x: loss = mean((sqrt(ab) x0 + sqrt(1 - ab) eps - eps)^2).
    const d = new FnDenoiser([1, 1, 2], (x) => x.clone());
    const x0 = tf.tensor4d([1, -2, 0.5, 3], [2, 1, 1, 2]);
    const loss = obj.loss(d, x0, createRng(8)).dataSync()[0];
    const rng = createRng(8);
    const t = [rng.nextInt(100), rng.nextInt(100)];
    const eps = rng.normalArray(4);
    let ab = 1;
    const abar: number[] = [];
    for (let i = 0; i < 100; i++) {
      ab *= 1 - (0.001 + ((0.2 - 0.001) * i) / 99);
      abar.push(ab);
    }
    const xs = [1, -2, 0.5, 3];
    const want =
      xs.reduce((s, v, i) => {
        const a = abar[t[i >> 1]];
        return s + (Math.sqrt(a) * v + Math.sqrt(1 - a) * eps[i] - eps[i]) ** 2;
      }, 0) / 4;
    expect(loss).toBeCloseTo(want, 4);
    expect(EpsilonObjective.fromConfig(obj.toJSON()).toJSON()).toEqual(obj.toJSON());
    x0.dispose();
  });
});
