/** Finite-difference checks of the denoisers' gradients (cpu backend, float32, central differences). */
import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { DiT, LightningDiT } from '../src/index.js';
import { randomize } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

const PARAMS = [
  'x_embedder.proj.weight',
  'y_embedder.embedding_table.weight',
  't_embedder.mlp.0.weight',
  'blocks.0.adaLN_modulation.1.weight',
  'blocks.1.attn.qkv.weight',
  'blocks.1.mlp.w12.weight',
  'blocks.1.mlp.fc1.weight',
  'final_layer.adaLN_modulation.1.bias',
  'final_layer.linear.weight',
];

for (const [name, make] of [
  [
    'LightningDiT p=2 (qk-norm, RoPE, SwiGLU)',
    () =>
      new LightningDiT({
        inputSize: 4,
        patchSize: 2,
        inChannels: 2,
        hiddenSize: 16,
        depth: 2,
        numHeads: 2,
        numClasses: 3,
        qkNorm: true,
      }),
  ],
  [
    'DiT p=1',
    () =>
      new DiT({
        inputSize: 2,
        patchSize: 1,
        inChannels: 2,
        hiddenSize: 16,
        depth: 2,
        numHeads: 2,
        numClasses: 3,
      }),
  ],
] as const) {
  it(`${name}: analytic gradients match central differences`, () => {
    const m = make();
    randomize(m, 1, 0.3);
    const x = tf.randomNormal([2, ...m.inputSize, 2], 0, 1, 'float32', 2);
    const r = tf.randomNormal([2, ...m.inputSize, 2], 0, 1, 'float32', 3);
    const t = [0.3, 0.8];
    const y = [1, 3];
    const f = () => tf.sum(tf.mul(m.forward(x, t, y), r)) as tf.Scalar;
    const named = new Map(m.namedParameters());
    const { grads } = tf.variableGrads(f);
    const byVar = new Map(Object.entries(grads));
    let checked = 0;
    for (const p of PARAMS) {
      const v = named.get(p);
      if (!v) continue;
      const g = byVar.get(v.name)!.dataSync();
      const vals = v.dataSync().slice();
      // A few entries spread over the tensor; for the label table, rows of the labels used.
      const picks = [0, Math.floor(vals.length / 3), vals.length - 1];
      if (p.startsWith('y_embedder')) picks.splice(0, 3, 16 + 2, 3 * 16 + 5);
      for (const i of picks) {
        const h = 1e-2;
        const at = (delta: number) => {
          const w = vals.slice();
          w[i] += delta;
          tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
          return tf.tidy(() => f().dataSync()[0]);
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        tf.tidy(() => v.assign(tf.tensor(vals, v.shape)));
        expect(Math.abs(fd - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
    tf.dispose([x, r, ...Object.values(grads)]);
    m.dispose();
  });
}
