import { type CheckpointPayload, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type BaselineKind,
  createBaseline,
  createObjective,
  type ObjectiveOptions,
  trainBaseline,
} from '../src/index.js';
import { tinyLpips } from './helpers.js';

let pool: tf.Tensor4D;
const lpips = () => tinyLpips(8);

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  pool = tf.randomUniform([16, 16, 16, 3], -1, 1, 'float32', 21) as tf.Tensor4D;
});

afterAll(() => pool.dispose());

/** Batch of step s: 4 images of a fixed pool, so a resumed run sees the same data. */
const data = (step: number) => tf.slice(pool, [(step * 4) % 16, 0, 0, 0], [4, 16, 16, 3]) as tf.Tensor4D;

async function run(kind: BaselineKind, opts: ObjectiveOptions, steps: number, resume?: CheckpointPayload) {
  const ae = createBaseline(kind, { preset: 'f4d4-micro', seed: 1 });
  const objective = createObjective(kind, ae, { seed: 2, ...opts });
  let saved: CheckpointPayload | undefined;
  const r = await trainBaseline({
    objective,
    data,
    steps,
    lr: 1e-3,
    resume,
    checkpoint: {
      every: 2,
      save: async (p) => {
        if (saved) tf.dispose(Object.values(saved.tensors));
        saved = {
          tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, t]) => [k, tf.clone(t)])),
          metadata: { ...p.metadata },
        };
      },
    },
  });
  const weights = Object.fromEntries(
    [...ae.namedParameters(), ...(objective.module?.namedParameters() ?? [])].map(([k, v]) => [
      k,
      Array.from(v.dataSync()),
    ]),
  );
  r.optimizer.dispose();
  objective.dispose();
  ae.dispose();
  return { losses: r.losses, weights, saved: saved! };
}

it.each([
  ['vae', {}],
  ['sd-vae', { discStart: 1, discriminator: { ndf: 4, nLayers: 1 } }],
] as [BaselineKind, ObjectiveOptions][])(
  '%s: a run resumed from its step-2 checkpoint ends where the uninterrupted run ends',
  async (kind, opts) => {
    const l = kind === 'sd-vae' ? lpips() : null;
    const o = l ? { ...opts, lpips: l } : opts;
    const before = tf.memory().numTensors;
    const full = await run(kind, o, 4);
    const first = await run(kind, o, 2);
    expect(first.losses).toEqual(full.losses.slice(0, 2));
    const resumed = await run(kind, o, 4, first.saved);
    expect(resumed.losses).toEqual(full.losses.slice(2));
    expect(Object.keys(resumed.weights).sort()).toEqual(Object.keys(full.weights).sort());
    for (const k of Object.keys(full.weights)) expect(resumed.weights[k]).toEqual(full.weights[k]);
    for (const r of [full, first, resumed]) tf.dispose(Object.values(r.saved.tensors));
    expect(tf.memory().numTensors).toBe(before);
    l?.dispose();
  },
);
