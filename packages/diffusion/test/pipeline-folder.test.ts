/**
 * A pipeline saved as one folder and loaded back: same samples from the same seed (EMA and trained
 * weights), in Node folders and in memory (the browser's way), the parts through the registries, the
 * generation scheme under injected write failures, and errors that name what is wrong.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FolderStore, loadAutoencoder, memoryFolder, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  DiffusionTrainer,
  FlowHeunScheduler,
  LatentDiffusion,
  type LightningDiT,
  loadDenoiser,
  parsePipelineJson,
} from '../src/index.js';
import { latentDiT, maxAbsDiff } from './helpers.js';
import { PatchAE } from './patch-ae.js';

const dir = mkdtempSync(join(tmpdir(), 'ldmae-pipeline-'));
const CLASSES = ['a', 'b', 'c'];
const NORM = { shift: [0.1, -0.2, 0, 0.3], scale: [2, 1.5, 1, 0.5] };
const sampleOpts = { n: 4, classes: [0, 1, 2, 0], steps: 3, cfg: 2, seed: 5 };
let ae: PatchAE;
let model: LightningDiT;
let trainer: DiffusionTrainer;
let pipe: LatentDiffusion;
let emaImages: tf.Tensor4D;
let rawImages: tf.Tensor4D;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  ae = new PatchAE(4, 7);
  model = latentDiT();
  trainer = new DiffusionTrainer({ denoiser: model, lr: 1e-2, ema: 0.5, seed: 1 });
  const latents = tf.randomNormal([6, 2, 2, 4], 0, 1, 'float32', 3);
  const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
  await trainer.train({
    data: { next: async () => ({ latents: latents.clone(), labels: labels.clone() }) },
    steps: 3,
  });
  tf.dispose([latents, labels]);
  pipe = new LatentDiffusion({
    autoencoder: ae,
    denoiser: model,
    normalization: NORM,
    scheduler: new FlowHeunScheduler({ shift: 0.5 }),
    info: { imageShape: [4, 4, 3], classes: CLASSES },
  });
  rawImages = await pipe.sample(sampleOpts);
  const ema = trainer.ema;
  if (!ema) throw new Error('the trainer has no EMA');
  ema.store();
  ema.copyTo();
  emaImages = await pipe.sample(sampleOpts);
  ema.restore();
});

afterAll(() => {
  tf.dispose([emaImages, rawImages]);
  trainer?.dispose();
  pipe?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('LatentDiffusion.save / load', () => {
  it('round-trips through a folder: same samples from the same seed, EMA by default, raw on request', async () => {
    const before = tf.memory().numTensors;
    const target = join(dir, 'p1');
    const json = await pipe.save(target, { ema: trainer.ema ?? undefined, training: { steps: 3 } });
    expect(json.weights).toBe('ema');
    expect(tf.memory().numTensors).toBe(before);
    expect(readdirSync(target).sort()).toEqual([
      'README.md',
      'autoencoder-1.safetensors',
      'denoiser-1.safetensors',
      'pipeline.json',
    ]);
    const card = readFileSync(join(target, 'README.md'), 'utf8');
    expect(card).toContain('LatentDiffusion.load');
    expect(card).toContain('steps: 3');
    expect(card).toContain('a, b, c');

    const loaded = await LatentDiffusion.load(target);
    expect(loaded.prediction).toBe('velocity');
    expect(loaded.info?.classes).toEqual(CLASSES);
    expect(loaded.scheduler.toJSON()).toEqual(pipe.scheduler.toJSON());
    const a = await loaded.sample(sampleOpts);
    expect(maxAbsDiff(a, emaImages)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a, rawImages)).toBeGreaterThan(1e-4); // the EMA differs from the trained weights
    a.dispose();
    loaded.dispose();

    const raw = await LatentDiffusion.load(target, { weights: 'model' });
    const b = await raw.sample(sampleOpts);
    expect(maxAbsDiff(b, rawImages)).toBeLessThan(1e-6);
    b.dispose();
    raw.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('round-trips in memory (a browser saves to memoryFolder and loads from fetched or picked files)', async () => {
    const store = memoryFolder();
    await pipe.save(store);
    const files = store.files();
    expect(Object.keys(files).sort()).toEqual([
      'README.md',
      'autoencoder-1.safetensors',
      'denoiser-1.safetensors',
      'pipeline.json',
    ]);
    const loaded = await LatentDiffusion.load(memoryFolder(files, 'picked'));
    const a = await loaded.sample(sampleOpts);
    expect(maxAbsDiff(a, rawImages)).toBeLessThan(1e-6); // saved without EMA: the trained weights
    a.dispose();
    loaded.dispose();
  });

  it('the parts load alone through loadAutoencoder / loadDenoiser', async () => {
    const target = join(dir, 'p1');
    const { model: a2, format } = await loadAutoencoder(target);
    expect(format).toBe('test-patch-ae');
    const z = tf.randomNormal([2, 2, 2, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
    const [x1, x2] = [ae.decode(z), a2.decode(z)];
    expect(maxAbsDiff(x1, x2)).toBe(0);
    tf.dispose([z, x1, x2]);
    a2.dispose();
    const d = await loadDenoiser(target, { weights: 'model' });
    expect(d.format).toBe('ldmae-denoiser');
    expect(d.model.prediction).toBe('velocity');
    (d.model as LightningDiT).dispose();
  });

  it('a second save makes a new generation and removes the old parts', async () => {
    const target = join(dir, 'p1');
    await pipe.save(target);
    expect(readdirSync(target).sort()).toEqual([
      'README.md',
      'autoencoder-2.safetensors',
      'denoiser-2.safetensors',
      'pipeline.json',
    ]);
    expect(JSON.parse(readFileSync(join(target, 'pipeline.json'), 'utf8')).weights).toBe('model');
  });

  it('a save that fails at any write leaves the previous pipeline loadable', async () => {
    const base = memoryFolder();
    await pipe.save(base, { ema: trainer.ema ?? undefined });
    for (let failAt = 0; failAt < 4; failAt++) {
      const snapshot = memoryFolder(base.files());
      let writes = 0;
      const faulty: FolderStore = {
        ...snapshot,
        location: 'faulty',
        read: snapshot.read,
        list: snapshot.list,
        remove: snapshot.remove,
        write: async (name, data) => {
          if (writes++ === failAt) throw new Error('ENOSPC: no space left on device');
          await snapshot.write(name, data);
        },
      };
      await expect(pipe.save(faulty)).rejects.toThrow(/ENOSPC/);
      const loaded = await LatentDiffusion.load(snapshot);
      const a = await loaded.sample(sampleOpts);
      expect(maxAbsDiff(a, emaImages)).toBeLessThan(1e-6);
      a.dispose();
      loaded.dispose();
    }
  });

  it('refuses a scheduler whose prediction differs from the denoiser, before loading', async () => {
    const ddim = new DDIMScheduler({ numTrainTimesteps: 1000 });
    await expect(LatentDiffusion.load(join(dir, 'p1'), { scheduler: ddim })).rejects.toThrow(
      /scheduler expects epsilon predictions, the denoiser predicts velocity/,
    );
    ddim.dispose();
  });

  it('names the file and the field that is wrong', async () => {
    await expect(LatentDiffusion.load(join(dir, 'nope'))).rejects.toThrow(/does not exist/);
    await expect(LatentDiffusion.load(memoryFolder({}, 'empty'))).rejects.toThrow(/has no pipeline\.json/);
    const good = readFileSync(join(dir, 'p1', 'pipeline.json'), 'utf8');
    const edit = (f: (j: Record<string, unknown>) => void) => {
      const j = JSON.parse(good);
      f(j);
      return JSON.stringify(j);
    };
    expect(() =>
      parsePipelineJson(
        edit((j) => (j.prediction = 'x0')),
        'p/pipeline.json',
      ),
    ).toThrow(/'p\/pipeline\.json': prediction must be 'velocity' or 'epsilon', got "x0"/);
    expect(() => parsePipelineJson(edit((j) => (j.normalization = { shift: [0], scale: [1] })))).toThrow(
      /normalization must be null or \{ shift, scale \} with 4 finite numbers/,
    );
    expect(() => parsePipelineJson(edit((j) => (j.format = 'other')))).toThrow(
      /format must be 'ldmae-pipeline'/,
    );
    const files = memoryFolder({ 'pipeline.json': good }, 'half');
    await expect(LatentDiffusion.load(files)).rejects.toThrow(
      /'half\/autoencoder-2\.safetensors', named by pipeline\.json, is missing/,
    );
    await expect(loadAutoencoder(join(dir, 'p1', 'denoiser-2.safetensors'))).rejects.toThrow(
      /holds a denoiser \(format 'ldmae-denoiser'\), not an autoencoder: use loadDenoiser/,
    );
  });

  it('refuses to save an autoencoder of no registered kind', async () => {
    const anon = {
      name: 'anon',
      latentNormalization: null,
      encode: () => {
        throw new Error('unused');
      },
      decode: (z: tf.Tensor4D) => z,
      latentShape: (s: [number, number, number]) => [s[0] / 2, s[1] / 2, 4] as [number, number, number],
      dispose: () => {},
    };
    const p = new LatentDiffusion({ autoencoder: anon, denoiser: model, normalization: null });
    await expect(p.save(memoryFolder())).rejects.toThrow(/autoencoder 'anon' is of no registered kind/);
  });
});
