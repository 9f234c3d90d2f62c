/**
 * Baseline checkpoints written by LDMAE load with the architecture they record: through
 * `autoencoderKLFromCheckpoint` from a payload and through `loadAutoencoderKL` from a file or a
 * checkpoint folder, for every kind, giving the saved model's outputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, loadCheckpoint, makeCheckpointPayload, saveCheckpoint, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  autoencoderKLFromCheckpoint,
  BASELINE_KINDS,
  baselineCheckpointConfig,
  createBaseline,
  loadAutoencoderKL,
  parseBaselineCheckpointConfig,
} from '../src/index.node.js';

let dir: string;
beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = mkdtempSync(join(tmpdir(), 'ldmae-baseline-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI's tiny preset: block widths 16 / 32 with 8 norm groups (not the default 32 groups). */
const make = (kind: (typeof BASELINE_KINDS)[number]) => {
  const ae = createBaseline(kind, { preset: 'f4d4-tiny', seed: 3 });
  ae.latentNormalization = { shift: [0.1, -0.2, 0.3, 0], scale: [1, 2, 0.5, 1.5] };
  return ae;
};

function reconstruct(ae: ReturnType<typeof make>, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => {
    const post = ae.encode(x);
    const y = ae.decode(post.mean as tf.Tensor4D);
    post.dispose();
    return y.dataSync() as Float32Array;
  });
}

describe('baseline checkpoints', () => {
  const x = () => createRng(1).uniform([2, 16, 16, 3], -1, 1) as tf.Tensor4D;

  for (const kind of BASELINE_KINDS) {
    it(`${kind}: loadAutoencoderKL reads the file and the folder with the recorded architecture`, async () => {
      const ae = make(kind);
      const input = x();
      const want = reconstruct(ae, input);
      const payload = makeCheckpointPayload({
        model: ae,
        step: 7,
        config: baselineCheckpointConfig(ae, kind),
      });
      await saveCheckpoint(join(dir, `${kind}.safetensors`), payload);
      await saveCheckpoint(join(dir, `${kind}-folder`), payload);
      tf.dispose(Object.values(payload.tensors));
      const before = tf.memory().numTensors;
      for (const path of [join(dir, `${kind}.safetensors`), join(dir, `${kind}-folder`)]) {
        const { model, file } = await loadAutoencoderKL(path);
        expect(file).toBe(path);
        expect(model.name).toBe(kind);
        expect(model.config).toEqual(ae.config);
        expect(model.posteriorKind).toBe(ae.posteriorKind);
        expect(model.latentNormalization).toEqual(ae.latentNormalization);
        expect(Array.from(reconstruct(model, input))).toEqual(Array.from(want));
        model.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      input.dispose();
      ae.dispose();
    });
  }

  it('reads a training checkpoint (the autoencoder under model.autoencoder.) and reports its step', async () => {
    const ae = make('vae');
    const loaded = await loadCheckpoint(join(dir, 'vae-folder'));
    // Re-key as the trainer's module saves it.
    const tensors = Object.fromEntries(
      Object.entries(loaded.tensors).map(([k, t]) => [k.replace(/^model\./, 'model.autoencoder.'), t]),
    );
    const r = autoencoderKLFromCheckpoint({ tensors, metadata: loaded.metadata });
    expect([r.kind, r.step]).toEqual(['vae', 7]);
    const input = x();
    expect(Array.from(reconstruct(r.model, input))).toEqual(Array.from(reconstruct(ae, input)));
    tf.dispose([input, ...Object.values(tensors)]);
    r.model.dispose();
    ae.dispose();
  });

  it('says what a checkpoint is when it is not a baseline', () => {
    expect(parseBaselineCheckpointConfig({ config: JSON.stringify({ format: 'ldmae-vmae' }) })).toBeNull();
    expect(parseBaselineCheckpointConfig({})).toBeNull();
    expect(() =>
      parseBaselineCheckpointConfig(
        { config: JSON.stringify({ format: 'ldmae-baseline', kind: 'gan' }) },
        'x',
      ),
    ).toThrow(/x: unknown baseline kind "gan"/);
    expect(() => autoencoderKLFromCheckpoint({ tensors: {}, metadata: {} })).toThrow(
      /not a baseline checkpoint/,
    );
  });
});
