/**
 * Trained LDMs from checkpoints: a DiffusionTrainer run with the `ldmae train-ldm` info in its config,
 * saved as bytes and as a checkpoint folder, rebuilt into a LatentDiffusion that samples exactly what
 * the trained model samples; EMA weights chosen over the live ones; bad metadata named; no tensors
 * left behind, and only the kept weights uploaded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Autoencoder,
  decodeCheckpoint,
  decodeCheckpointHost,
  encodeCheckpoint,
  type LatentDistribution,
  memoryFolder,
  saveCheckpoint,
  setupBackend,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  DiffusionTrainer,
  denoiserFromConfig,
  denoiserFromTrainingCheckpoint,
  FlowEulerScheduler,
  FlowHeunScheduler,
  type HostCheckpointPayload,
  LatentDiffusion,
  type LdmCheckpointInfo,
  type LightningDiT,
  latentDiffusionFromCheckpoint,
  latentDiffusionFromInfo,
  loadLatentDiffusionCheckpoint,
  parseLdmCheckpointInfo,
} from '../src/index.js';
import { latentDiT, maxAbsDiff } from './helpers.js';

/** decode: 2x nearest upsampling of the first 3 channels (latents [h, w, 4] of [2h, 2w, 3] images). */
class FakeAutoencoder implements Autoencoder {
  readonly name = 'fake';
  latentNormalization = null;
  constructor(private readonly channels = 4) {}
  encode(): LatentDistribution {
    throw new Error('not used');
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const rgb = tf.slice(z, [0, 0, 0, 0], [-1, -1, -1, 3]) as tf.Tensor4D;
      return tf.image.resizeNearestNeighbor(rgb, [z.shape[1] * 2, z.shape[2] * 2]);
    });
  }
  latentShape(s: [number, number, number]): [number, number, number] {
    return [s[0] / 2, s[1] / 2, this.channels];
  }
  dispose(): void {}
}

/** Exactly the JSON `ldmae train-ldm` records (its former `LdmInfo`). */
const INFO = {
  cache: 'runs/latents',
  autoencoder: 'runs/vmae/autoencoder.safetensors',
  normalization: { shift: [0.1, -0.2, 0, 0.3], scale: [2, 1.5, 1, 0.5] },
  latentShape: [2, 2, 4],
  imageShape: [4, 4, 3],
  numClasses: 3,
  classes: ['a', 'b', 'c'],
} satisfies LdmCheckpointInfo;

const dir = mkdtempSync(join(tmpdir(), 'ldmae-ldm-ckpt-'));
const ae = new FakeAutoencoder();
let bytes: Uint8Array;
let folder: { meta: Uint8Array; weights: Uint8Array };
let model: LightningDiT;
let trainer: DiffusionTrainer;
/** Bytes of the trained model's own tensors (what a loaded denoiser holds). */
let modelBytes: number;

const makeModel = () => latentDiT({ rope: true });

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  model = makeModel();
  trainer = new DiffusionTrainer({ denoiser: model, lr: 1e-2, ema: 0.5, seed: 1, labelDropout: 0.1 });
  const latents = tf.randomNormal([6, 2, 2, 4], 0, 1, 'float32', 3);
  const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
  await trainer.train({
    data: { next: async () => ({ latents: latents.clone(), labels: labels.clone() }) },
    steps: 3,
    checkpoint: {
      every: 3,
      save: async (p) => {
        bytes = await encodeCheckpoint(p);
        await saveCheckpoint(join(dir, 'checkpoint'), p);
        await saveCheckpoint(join(dir, 'file.safetensors'), p);
      },
    },
    config: INFO,
  });
  tf.dispose([latents, labels]);
  folder = {
    meta: new Uint8Array(readFileSync(join(dir, 'checkpoint', 'meta.json'))),
    weights: new Uint8Array(
      readFileSync(
        join(
          dir,
          'checkpoint',
          JSON.parse(readFileSync(join(dir, 'checkpoint', 'meta.json'), 'utf8')).weights,
        ),
      ),
    ),
  };
  modelBytes = model.namedParameters().reduce((s, [, v]) => s + v.size * 4, 0);
});

afterAll(() => {
  trainer?.dispose();
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const sampleOpts = { n: 4, classes: [0, 1, 2, 0], steps: 3, cfg: 2, seed: 5 };

/** Payload of the checkpoint with its config's JSON changed by `edit`. */
function withConfig(edit: (cfg: Record<string, unknown>) => unknown): HostCheckpointPayload {
  const host = decodeCheckpointHost(bytes);
  const cfg = JSON.parse(host.metadata.config);
  const out = edit(cfg) ?? cfg;
  return { tensors: host.tensors, metadata: { ...host.metadata, config: JSON.stringify(out) } };
}

describe('latentDiffusionFromCheckpoint', () => {
  it('rebuilds the trained pipeline from checkpoint bytes: identical samples for a seed', async () => {
    // The trained model with its EMA weights, sampled as the CLI does after training.
    const reference = makeModel();
    reference.loadStateDict(trainer.ema!.stateDict());
    reference.eval();
    const want = await new LatentDiffusion({
      autoencoder: ae,
      denoiser: reference,
      normalization: INFO.normalization,
      scheduler: new FlowEulerScheduler({ shift: 0.3 }),
    }).sample(sampleOpts);
    expect(want.shape).toEqual([4, 4, 4, 3]);
    expect(tf.moments(want).variance.dataSync()[0]).toBeGreaterThan(0);

    const host = decodeCheckpointHost(bytes);
    const tfPayload = decodeCheckpoint(bytes);
    const sources = { bytes, folder, host, tf: tfPayload };
    for (const [name, source] of Object.entries(sources)) {
      const before = tf.memory().numTensors;
      const ldm = latentDiffusionFromCheckpoint(source, ae);
      expect(ldm.step, name).toBe(3);
      expect(ldm.weights, name).toBe('ema');
      expect(ldm.defaulted).toEqual([]);
      expect(ldm.prediction).toBe('velocity');
      expect(ldm.info).toEqual(INFO);
      expect(ldm.pipeline.normalization).toEqual(INFO.normalization);
      expect(ldm.pipeline.scheduler.toJSON()).toEqual({ type: 'flow-euler', shift: 0.3 });
      const got = await ldm.pipeline.sample(sampleOpts);
      expect(maxAbsDiff(got, want), name).toBe(0);
      got.dispose();
      ldm.dispose();
      expect(tf.memory().numTensors, name).toBe(before);
    }
    tf.dispose(Object.values(tfPayload.tensors));

    // The async loader also takes a path (the folder and the single file) and a FolderSource.
    const files = memoryFolder({
      'meta.json': folder.meta,
      [JSON.parse(new TextDecoder().decode(folder.meta)).weights]: folder.weights,
    });
    for (const source of [join(dir, 'checkpoint'), join(dir, 'file.safetensors'), files]) {
      const before = tf.memory().numTensors;
      const ldm = await loadLatentDiffusionCheckpoint(source, ae);
      const got = await ldm.pipeline.sample(sampleOpts);
      expect(maxAbsDiff(got, want)).toBe(0);
      got.dispose();
      ldm.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    await expect(loadLatentDiffusionCheckpoint(join(dir, 'nope'), ae)).rejects.toThrow(
      /'.*nope' does not exist/,
    );

    // Heun with another shift through the options; the same pipeline from the parts.
    const heun = latentDiffusionFromCheckpoint(bytes, ae, { sampler: 'heun', shift: 1 });
    expect(heun.pipeline.scheduler.toJSON()).toEqual({ type: 'flow-heun', shift: 1 });
    const parts = latentDiffusionFromInfo(ae, heun.denoiser, heun.info, { sampler: 'heun', shift: 1 });
    const a = await heun.pipeline.sample(sampleOpts);
    const b = await parts.sample(sampleOpts);
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, want)).toBeGreaterThan(0);
    tf.dispose([a, b, want]);
    heun.dispose();
    reference.dispose();
  });

  it('chooses the EMA weights over the live model, or the live ones when asked', () => {
    const ema = trainer.ema!.stateDict();
    const live = model.stateDict();
    const keys = Object.keys(live);
    // Three steps at decay 0.5 leave the average well away from the live weights.
    expect(Math.max(...keys.map((k) => maxAbsDiff(ema[k], live[k])))).toBeGreaterThan(1e-3);
    const fromEma = denoiserFromTrainingCheckpoint(bytes);
    expect(fromEma.weights).toBe('ema');
    expect(fromEma.denoiser.training).toBe(false);
    const e = fromEma.denoiser.stateDict();
    for (const k of keys) expect(maxAbsDiff(e[k], ema[k]), k).toBe(0);
    const fromModel = denoiserFromTrainingCheckpoint(folder, { weights: 'model' });
    expect(fromModel.weights).toBe('model');
    const m = fromModel.denoiser.stateDict();
    for (const k of keys) expect(maxAbsDiff(m[k], live[k]), k).toBe(0);
    // A checkpoint without an EMA (trained with ema: false) gives the live weights by default.
    const host = decodeCheckpointHost(bytes);
    const noEma = Object.fromEntries(Object.entries(host.tensors).filter(([k]) => !k.startsWith('ema.')));
    const plain = denoiserFromTrainingCheckpoint({ tensors: noEma, metadata: host.metadata });
    expect(plain.weights).toBe('model');
    const p = plain.denoiser.stateDict();
    for (const k of keys) expect(maxAbsDiff(p[k], live[k]), k).toBe(0);
    expect(() =>
      denoiserFromTrainingCheckpoint({ tensors: noEma, metadata: host.metadata }, { weights: 'ema' }),
    ).toThrow(/no 'ema\.\*' tensors \(expected the EMA weights/);
    tf.dispose([ema, live, e, m, p].flatMap((d) => Object.values(d)));
    fromEma.denoiser.dispose();
    fromModel.denoiser.dispose();
    plain.denoiser.dispose();
  });

  it('uploads only the weights it keeps and leaves no tensors behind', () => {
    // Peak bytes on the backend while loading, seen through the engine's tensor registration.
    const engine = tf.engine() as unknown as {
      trackTensor: (...a: unknown[]) => unknown;
      state: { numBytes: number };
    };
    const track = engine.trackTensor;
    let peak = 0;
    engine.trackTensor = function (this: unknown, ...a: unknown[]) {
      const r = track.apply(this, a);
      peak = Math.max(peak, engine.state.numBytes);
      return r;
    };
    try {
      const host = decodeCheckpointHost(bytes);
      const payloadBytes = Object.values(host.tensors).reduce((s, t) => s + t.data.byteLength, 0);
      // Live weights, EMA, and both AdamW moments: at least four models' worth.
      expect(payloadBytes).toBeGreaterThan(3.9 * modelBytes);
      // What one model holds on the backend (parameters and buffers): a fresh one of the same config.
      const m0 = tf.memory();
      const fresh = denoiserFromConfig(model.toJSON());
      const one = {
        bytes: tf.memory().numBytes - m0.numBytes,
        tensors: tf.memory().numTensors - m0.numTensors,
      };
      fresh.dispose();
      expect(one.bytes).toBeGreaterThanOrEqual(modelBytes);
      const before = tf.memory();
      peak = before.numBytes;
      const t = denoiserFromTrainingCheckpoint(host);
      const after = tf.memory();
      // The model itself is all that stays; at the peak, the model and its uploaded EMA weights.
      expect(after.numBytes - before.numBytes).toBe(one.bytes);
      expect(after.numTensors - before.numTensors).toBe(one.tensors);
      expect(peak - before.numBytes).toBeGreaterThanOrEqual(2 * modelBytes);
      expect(peak - before.numBytes).toBeLessThan(2.5 * one.bytes);
      // Uploading the whole payload instead (what a tf payload costs) peaks at over four models.
      peak = before.numBytes;
      tf.dispose(Object.values(decodeCheckpoint(bytes).tensors));
      expect(peak - before.numBytes).toBeGreaterThan(3.9 * modelBytes);
      t.denoiser.dispose();
      expect(tf.memory().numTensors).toBe(before.numTensors);
      expect(tf.memory().numBytes).toBe(before.numBytes);
    } finally {
      engine.trackTensor = track;
    }
  });

  it('parses the info the CLI records and fills in defaults only when asked', () => {
    const host = decodeCheckpointHost(bytes);
    expect(parseLdmCheckpointInfo(host.metadata)).toEqual(INFO);
    // The metadata copy in meta.json reads the same, without the weights.
    const meta = JSON.parse(new TextDecoder().decode(folder.meta)) as { metadata: Record<string, string> };
    expect(parseLdmCheckpointInfo(meta.metadata)).toEqual(INFO);
    const noUser = withConfig((c) => {
      delete c.user;
    });
    expect(() => parseLdmCheckpointInfo(noUser.metadata)).toThrow(
      /metadata\.config has no 'user' part .*expected the LdmCheckpointInfo \{ normalization, latentShape, imageShape, numClasses, classes \}/,
    );
    const partial = withConfig((c) => {
      const { normalization: _n, imageShape: _i, ...rest } = INFO;
      c.user = rest;
    });
    const defaults = {
      normalization: { shift: [0, 0, 0, 0], scale: [1, 1, 1, 1] },
      imageShape: [4, 4, 3] as [number, number, number],
    };
    const before = tf.memory().numTensors;
    const t = denoiserFromTrainingCheckpoint(partial, { defaults: { ...defaults, numClasses: 7 } });
    expect(t.defaulted).toEqual(['normalization', 'imageShape']);
    expect(t.info).toEqual({ ...INFO, ...defaults });
    t.denoiser.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names what was expected when the metadata is bad or missing, and creates no tensors', () => {
    const before = tf.memory().numTensors;
    const host = decodeCheckpointHost(bytes);
    const cases: [HostCheckpointPayload, RegExp][] = [
      [
        { tensors: host.tensors, metadata: { step: '3' } },
        /no metadata\.config \(expected the JSON config a DiffusionTrainer checkpoint carries\)/,
      ],
      [{ tensors: host.tensors, metadata: { config: '{oops' } }, /metadata\.config is not valid JSON/],
      [
        withConfig((c) => void delete c.denoiser),
        /metadata\.config\.denoiser must be a DiT \/ LightningDiT config/,
      ],
      [
        withConfig((c) => ({ ...c, objective: { type: 'edm' } })),
        /objective\.type must be 'rectified-flow' or 'epsilon', got "edm"/,
      ],
      [
        withConfig((c) => ({ ...c, user: 'x' })),
        /metadata\.config\.user must be an object: expected the LdmCheckpointInfo/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, latentShape: [2, 2] } })),
        /user\.latentShape must be the latent shape \[h, w, c\] \(3 positive integers\), got \[2,2\]/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, imageShape: undefined } })),
        /user\.imageShape must be the image shape \[H, W, 3\].*got nothing/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, normalization: { shift: [0], scale: [1] } } })),
        /user\.normalization must be \{ shift, scale \} with 4 finite numbers each/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, numClasses: 0 } })),
        /user\.numClasses must be an integer >= 1, got 0/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, classes: ['a'] } })),
        /user\.classes must be null or 3 class names/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, autoencoder: 3 } })),
        /user\.autoencoder must be a path \(string\) or null, got 3/,
      ],
      [
        withConfig((c) => ({
          ...c,
          user: { ...INFO, latentShape: [2, 2, 3], normalization: { shift: [0, 0, 0], scale: [1, 1, 1] } },
        })),
        /user\.latentShape 2x2x3 does not match the denoiser config's 2x2x4/,
      ],
      [
        withConfig((c) => ({ ...c, user: { ...INFO, numClasses: 2, classes: null } })),
        /user\.numClasses 2 does not match the denoiser config's 3/,
      ],
      [{ tensors: {}, metadata: host.metadata }, /no 'model\.\*' tensors .*it has no tensors/],
    ];
    for (const [payload, re] of cases) {
      expect(() => latentDiffusionFromCheckpoint(payload, ae)).toThrow(re);
      expect(() => denoiserFromTrainingCheckpoint(payload)).toThrow(/^denoiserFromTrainingCheckpoint: /);
    }
    const bad = bytes.slice();
    bad[bad.length - 5] ^= 1;
    expect(() => latentDiffusionFromCheckpoint(bad, ae)).toThrow(
      /checkpoint bytes are not a valid checkpoint: .*CRC-32 mismatch/,
    );
    expect(() => latentDiffusionFromCheckpoint({ ...folder, weights: bad }, ae)).toThrow(
      /does not match meta\.json/,
    );
    expect(() => latentDiffusionFromCheckpoint(42 as never, ae)).toThrow(/source must be checkpoint bytes/);
    // The autoencoder's latents are checked against the checkpoint's before any weight is built.
    expect(() => latentDiffusionFromCheckpoint(bytes, new FakeAutoencoder(3))).toThrow(
      /the autoencoder makes 2x2x3 latents of 4x4x3 images, the diffusion model was trained on 2x2x4/,
    );
    expect(() => latentDiffusionFromCheckpoint(bytes, {} as never)).toThrow(
      /autoencoder must be an Autoencoder/,
    );
    expect(() => latentDiffusionFromCheckpoint(bytes, ae, { sampler: 'rk4' as never })).toThrow(
      /sampler must be 'euler' or 'heun', got "rk4"/,
    );
    expect(() => latentDiffusionFromCheckpoint(bytes, ae, { scheduler: new DDIMScheduler() })).toThrow(
      /the scheduler expects epsilon predictions, the denoiser predicts velocity/,
    );
    expect(() =>
      latentDiffusionFromCheckpoint(
        withConfig((c) => ({ ...c, objective: { type: 'epsilon' } })),
        ae,
      ),
    ).toThrow(/predicts epsilon .*pass a DDPMScheduler \/ DDIMScheduler/);
    expect(() => denoiserFromTrainingCheckpoint(bytes, { weights: 'best' as never })).toThrow(
      /weights must be 'ema' or 'model', got "best"/,
    );
    expect(tf.memory().numTensors).toBe(before);

    const t = denoiserFromTrainingCheckpoint(bytes);
    expect(() => latentDiffusionFromInfo(new FakeAutoencoder(3), t.denoiser, t.info)).toThrow(
      /latentDiffusionFromInfo: the autoencoder makes 2x2x3 latents/,
    );
    expect(() =>
      latentDiffusionFromInfo(ae, t.denoiser, { ...t.info, latentShape: [1, 1, 4], imageShape: [2, 2, 3] }),
    ).toThrow(/the denoiser takes 2x2x4 latents, info\.latentShape is 1x1x4/);
    const heun = new FlowHeunScheduler({ shift: 0.5 });
    expect(latentDiffusionFromInfo(ae, t.denoiser, t.info, { scheduler: heun }).scheduler).toBe(heun);
    t.denoiser.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
