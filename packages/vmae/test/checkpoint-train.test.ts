import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckpointPayload,
  computeLatentNormalization,
  createRng,
  loadCheckpoint,
  setupBackend,
} from '@ldmae/core';
import { compose, randomHorizontalFlip, randomResizedCrop } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeVMAE,
  fitLatentNormalization,
  loadVMAE,
  readVMAE,
  saveVMAE,
  scaledLr,
  trainVMAE,
  type VMAE,
  VMAE_AUGMENTATION,
  vmaeRecipe,
} from '../src/index.js';
import { maxAbsDiff, microVMAE, randomImages } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = mkdtempSync(join(tmpdir(), 'vmae-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Batches as a pure function of the step, so a resumed run sees the same data. */
const data = (step: number) => randomImages(4, 16, 16, 100 + step);

function paramsOf(m: VMAE): Float32Array[] {
  return m.parameters().map((v) => v.dataSync().slice() as Float32Array);
}

describe('trainVMAE', () => {
  it('uses the recipe: lr = blr * batch / 256, warm-up then cosine, every term logged', async () => {
    const m = microVMAE();
    const lines: Record<string, unknown>[] = [];
    const r = await trainVMAE({
      model: m,
      data,
      steps: 8,
      batchSize: 512,
      warmupSteps: 2,
      log: (l) => lines.push(l),
    });
    expect(r.recipe.lr).toBeCloseTo(scaledLr(1e-4, 512), 12); // 2e-4
    expect(r.lrs[0]).toBe(0);
    expect(r.lrs[1]).toBeCloseTo(1e-4, 12);
    expect(r.lrs[2]).toBeCloseTo(2e-4, 12);
    expect(r.lrs[5]).toBeCloseTo(1e-4 * (1 + Math.cos((Math.PI * 3) / 6)), 12);
    expect(Object.keys(lines[0])).toEqual(
      expect.arrayContaining(['loss', 'masked', 'visible', 'kl', 'lr', 'step']),
    );
    expect(r.recipe).toMatchObject({
      maskRatio: 0.25,
      visibleWeight: 0.75,
      klWeight: 1e-6,
      betas: [0.9, 0.95],
      weightDecay: 0.05,
    });
    m.dispose();
  });

  it('stage 3 trains without masking (mask token untouched) and the encoder can be frozen', async () => {
    const m = microVMAE({}, 4);
    const before = new Map(m.namedParameters().map(([n, v]) => [n, v.dataSync().slice()]));
    const r = await trainVMAE({
      model: m,
      data,
      steps: 3,
      batchSize: 4,
      stage: 3,
      lr: 1e-3,
      freezeEncoder: true,
    });
    expect(r.recipe).toMatchObject({
      maskRatio: 0,
      visibleWeight: 1,
      klWeight: 0,
      lpipsWeight: 10,
      sample: false,
    });
    for (const [n, v] of m.namedParameters()) {
      const moved = maxAbs(v.dataSync(), before.get(n)!) > 0;
      const decoderSide = n.startsWith('decoder') || n.startsWith('from_latent');
      expect(moved, n).toBe(decoderSide);
    }
    m.dispose();
  });

  it('writes atomic checkpoints and resumes exactly (model, optimiser, step, masking rng)', async () => {
    const straight = microVMAE({}, 9);
    await trainVMAE({ model: straight, data, steps: 6, batchSize: 4, lr: 1e-3, seed: 3 });
    const path = join(dir, 'run');
    const first = microVMAE({}, 9);
    const stop = new AbortController();
    await trainVMAE({
      model: first,
      data,
      steps: 6,
      batchSize: 4,
      lr: 1e-3,
      seed: 3,
      checkpoint: { every: 2, path },
      onProgress: (ev) => {
        if (ev.step === 3) stop.abort();
      },
      signal: stop.signal,
    });
    // Two saves (step 2, then step 3 on the stop): the folder holds the second's weights only.
    expect(readdirSync(path).sort()).toEqual(['meta.json', 'model-2.safetensors']);
    const resumed = microVMAE({}, 123); // different init: everything must come from the checkpoint
    const before = tf.memory().numTensors;
    const r = await trainVMAE({
      model: resumed,
      data,
      steps: 6,
      batchSize: 4,
      lr: 1e-3,
      seed: 999,
      resume: path,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.losses.length).toBe(3);
    const a = paramsOf(straight);
    const b = paramsOf(resumed);
    a.forEach((p, i) => {
      expect(maxAbs(p, b[i])).toBe(0);
    });
    // The training checkpoint is also a loadable model.
    const fromRun = await readVMAE(path);
    expect(fromRun.format).toBe('ldmae');
    expect(fromRun.step).toBe(3); // saved when the run stopped after its third step
    [straight, first, resumed, fromRun.model].forEach((m) => {
      m.dispose();
    });
  });

  it('accepts a custom checkpoint sink and a resume payload', async () => {
    const saved: CheckpointPayload[] = [];
    const m = microVMAE({}, 1);
    await trainVMAE({
      model: m,
      data,
      steps: 2,
      batchSize: 4,
      lr: 1e-3,
      checkpoint: {
        every: 1,
        save: async (p) => {
          saved.push({
            tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, t]) => [k, t.clone()])),
            metadata: p.metadata,
          });
        },
      },
    });
    expect(saved.map((p) => p.metadata.step)).toEqual(['1', '2']);
    const config = JSON.parse(saved[0].metadata.config);
    expect(config.format).toBe('ldmae-vmae');
    expect(config.recipe.stage).toBe(1);
    const r = await trainVMAE({ model: m, data, steps: 2, batchSize: 4, lr: 1e-3, resume: saved[1] });
    expect(r.losses).toEqual([]); // already at step 2
    saved.forEach((p) => {
      tf.dispose(Object.values(p.tensors));
    });
    m.dispose();
  });

  it('seeks a loader to the resumed step, and disposes labels of loader batches', async () => {
    const seeks: number[] = [];
    const labels: tf.Tensor[] = [];
    let calls = 0;
    const loader = {
      seek: (s: number) => seeks.push(s),
      next: async () => {
        const l = tf.zeros([4], 'int32');
        labels.push(l);
        return { images: data(calls++), labels: l };
      },
    };
    const m = microVMAE({}, 2);
    const saved: CheckpointPayload[] = [];
    await trainVMAE({
      model: m,
      data: loader,
      steps: 2,
      batchSize: 4,
      lr: 1e-3,
      checkpoint: {
        every: 2,
        save: async (p) =>
          void saved.push({
            tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, t]) => [k, t.clone()])),
            metadata: p.metadata,
          }),
      },
    });
    expect(seeks).toEqual([]);
    await trainVMAE({ model: m, data: loader, steps: 3, batchSize: 4, lr: 1e-3, resume: saved[0] });
    expect(seeks).toEqual([2]);
    expect(calls).toBe(3);
    expect(labels.every((l) => l.isDisposed)).toBe(true);
    tf.dispose(Object.values(saved[0].tensors));
    m.dispose();
  });

  it('rejects bad options by name', async () => {
    const m = microVMAE({ maskToken: false });
    await expect(trainVMAE({ model: m, data, steps: 2, batchSize: 4 })).rejects.toThrow(/has no mask_token/);
    await expect(trainVMAE({ model: m, data, steps: -1, batchSize: 4, stage: 3 })).rejects.toThrow(
      /steps must be/,
    );
    await expect(trainVMAE({ model: m, data, steps: 2, batchSize: 0, stage: 3 })).rejects.toThrow(
      /batchSize/,
    );
    await expect(trainVMAE({ model: m, data: 5 as never, steps: 2, batchSize: 4, stage: 3 })).rejects.toThrow(
      /data must be/,
    );
    await expect(trainVMAE({ model: {} as VMAE, data, steps: 2, batchSize: 4 })).rejects.toThrow(
      /model must be a VMAE/,
    );
    expect(() => vmaeRecipe(2 as 1)).toThrow(/stage must be 1 or 3/);
    // The reference augmentation: RandomResizedCrop(scale 0.75..1, bicubic) + flip, to the asked size.
    const aug = compose(
      randomResizedCrop(12, VMAE_AUGMENTATION.crop),
      randomHorizontalFlip(VMAE_AUGMENTATION.flip),
    );
    const img = { data: new Uint8Array(20 * 24 * 3).fill(128), height: 20, width: 24, channels: 3 };
    const out = aug.apply(img, createRng(0));
    expect([out.height, out.width, out.channels]).toEqual([12, 12, 3]);
    expect(aug.spec).toMatchObject({ kind: 'compose' });
    m.dispose();
  });
});

describe('saving the model and its latent normalisation', () => {
  it('fits the normalisation from sampled latents (as core computes it) and saves it with the model', async () => {
    const m = microVMAE({}, 5);
    const batches = [0, 1, 2].map((i) => randomImages(4, 16, 16, 50 + i));
    // Reference: the same samples, all at once, through core's computeLatentNormalization.
    const rng = createRng(8);
    const zs = batches.map((x) => {
      const post = m.encode(x);
      const z = post.sample(rng);
      post.dispose();
      return z;
    });
    const all = tf.concat(zs) as tf.Tensor4D;
    const want = computeLatentNormalization(all);
    tf.dispose([...zs, all]);
    const norm = await fitLatentNormalization(m, batches, { rng: createRng(8) });
    norm.shift.forEach((v, i) => {
      expect(v).toBeCloseTo(want.shift[i], 5);
    });
    norm.scale.forEach((v, i) => {
      expect(v / want.scale[i]).toBeCloseTo(1, 5);
    });
    expect(m.latentNormalization).toEqual(norm);
    expect(batches[0].isDisposed).toBe(true);

    const file = join(dir, 'model.safetensors');
    await saveVMAE(file, m);
    const back = await loadVMAE(file);
    expect(back.latentNormalization).toEqual(norm);
    expect(back.config).toEqual(m.config);
    const bytes = await encodeVMAE(m);
    const fromBytes = await loadVMAE(bytes);
    const x = randomImages(2, 16, 16, 7);
    const r1 = m.reconstruct(x);
    const r2 = back.reconstruct(x);
    const r3 = fromBytes.reconstruct(x);
    expect(maxAbsDiff(r1, r2)).toBe(0);
    expect(maxAbsDiff(r1, r3)).toBe(0);
    const payload = await loadCheckpoint(file);
    expect(JSON.parse(payload.metadata.config).latentNormalization).toEqual(norm);
    tf.dispose([x, r1, r2, r3, ...Object.values(payload.tensors)]);
    [m, back, fromBytes].forEach((v) => {
      v.dispose();
    });
  });

  it('refuses files that are not VMAE checkpoints', async () => {
    await expect(loadVMAE(join(dir, 'nothing-here'))).rejects.toThrow(/cannot read .*nothing-here/);
    await expect(loadVMAE(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow(
      /neither a torch \.pth file nor a safetensors/,
    );
  });
});

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
