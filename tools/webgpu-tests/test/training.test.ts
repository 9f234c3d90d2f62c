/**
 * One training step of the VMAE and of LightningDiT on WebGPU equals the same step on wasm within
 * 1e-4 relative (to each tensor's largest magnitude):
 * - the loss and every gradient (the forward and backward kernels);
 * - the weights after one AdamW step fed the same gradients (the optimiser's kernels). Fed each
 *   backend's own gradients, AdamW's first step lr * g / (|g| + eps) turns rounding-level gradients
 *   (a key bias's is exactly zero in exact arithmetic) into +-lr, so that comparison says nothing;
 * - the trainer's own step (trainVMAE / train with clipping) runs and reports the same loss.
 * Shapes are small: on llvmpipe WebGPU runs at well under 1 GFLOP/s.
 */
import { AdamW, createRng, type Module, setupBackend, train } from '@ldmae/core';
import { RectifiedFlow } from '@ldmae/diffusion';
import { createVMAE, trainVMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { probeWebGPU } from './availability.js';
import { type HostResults, readAll, relativeDiffs, runOn, worst } from './compare.js';
import { microDiT } from './models.js';

const { reason } = await probeWebGPU();
const TOL = 1e-4;

/** A 16 px VMAE, patch 4, width 32, one block on each side. */
function microVMAE() {
  const shape = { imgSize: 16, embedDim: 32, depth: 1, numHeads: 2 };
  const decoder = { decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 2 };
  return createVMAE('f4d4-tiny', { ...shape, ...decoder }, { rng: createRng(0) });
}

/** Gradients keyed by parameter name (tfjs keys them by variable name, which differs per model). */
function byParam(m: Module, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const names = new Map(m.namedParameters().map(([n, v]) => [v.name, n]));
  return Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k) ?? k, g]));
}

const prefixed = (p: string, r: Record<string, tf.Tensor>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [`${p}${k}`, v]));

/** Loss and gradients of `lossFn`, then one AdamW step from the given host gradients (or these). */
async function gradsThenAdamW(
  m: Module,
  lossFn: () => tf.Scalar,
  hostGrads: HostResults | null,
): Promise<HostResults> {
  const { value, grads } = tf.variableGrads(lossFn);
  const out = await readAll({ loss: value, ...prefixed('grad.', byParam(m, grads)) });
  const feed = hostGrads ?? out;
  const optimizer = AdamW.forModule(m, { lr: 1e-3, weightDecay: 0.05 });
  const g = Object.fromEntries(
    m.namedParameters().map(([n, v]) => [n, tf.tensor(feed[`grad.${n}`], v.shape)]),
  );
  optimizer.step(g, 1e-3);
  tf.dispose(Object.values(g));
  optimizer.dispose();
  const after = await readAll(
    prefixed('param.', Object.fromEntries(m.namedParameters().map(([n, v]) => [n, v.clone()]))),
  );
  return { ...out, ...after };
}

function expectClose(got: HostResults, ref: HostResults, what: string): void {
  const diffs = relativeDiffs(got, ref);
  const [name, d] = worst(diffs);
  console.log(
    `${what}: ${Object.keys(diffs).length} results, largest relative difference ${d.toExponential(2)} at '${name}'`,
  );
  expect(d, `${what}: largest relative difference at '${name}'`).toBeLessThan(TOL);
}

describe.skipIf(reason !== null)('training on WebGPU matches wasm', () => {
  it('VMAE stage-1 step (masking, KL, patch loss): loss, gradients, AdamW update, trainVMAE', async () => {
    const images = () => createRng(1).uniform([2, 16, 16, 3], -1, 1) as tf.Tensor4D;
    const step = (hostGrads: HostResults | null) => async (): Promise<HostResults> => {
      const m = microVMAE();
      const x = images();
      const out = await gradsThenAdamW(m, () => m.forward(x, { rng: createRng(5) }).loss, hostGrads);
      x.dispose();
      m.dispose();
      const m2 = microVMAE();
      const r = await trainVMAE({
        model: m2,
        data: () => images(),
        steps: 1,
        batchSize: 2,
        clipGradNorm: 1,
        seed: 7,
      });
      m2.dispose();
      return { ...out, trainLoss: Float32Array.of(r.losses[0]) };
    };
    const ref = await runOn('wasm', step(null));
    const got = await runOn('webgpu', step(ref));
    expect(Object.keys(got).filter((k) => k.startsWith('grad.')).length).toBeGreaterThan(30);
    expectClose(got, ref, 'VMAE');
  });

  it('LightningDiT rectified-flow step: loss, gradients, AdamW update, train() with clipping', async () => {
    // Labels made per step from host values, as the trainer's loader does.
    const labels = () => tf.tensor1d([0, 2], 'int32');
    const step = (hostGrads: HostResults | null) => async (): Promise<HostResults> => {
      const flow = new RectifiedFlow();
      const x = createRng(2).normal([2, 4, 4, 4]);
      const m = microDiT();
      const out = await gradsThenAdamW(
        m,
        () => flow.loss(m, x, createRng(9), { labels: labels() }),
        hostGrads,
      );
      m.dispose();
      const m2 = microDiT();
      const rng = createRng(11);
      const optimizer = AdamW.forModule(m2, { lr: 1e-3, weightDecay: 0 });
      const r = await train({
        model: m2,
        optimizer,
        steps: 1,
        data: () => x.clone(),
        lossFn: (b) => flow.loss(m2, b, rng, { labels: labels() }),
        clipGradNorm: 0.5,
      });
      optimizer.dispose();
      m2.dispose();
      x.dispose();
      return { ...out, trainLoss: Float32Array.of(r.losses[0]) };
    };
    const ref = await runOn('wasm', step(null));
    const got = await runOn('webgpu', step(ref));
    expectClose(got, ref, 'LightningDiT');
  });

  it('trainVMAE still refuses images outside [-1, 1] (checked asynchronously on WebGPU)', async () => {
    await setupBackend({ backend: 'webgpu' });
    const before = tf.memory().numTensors;
    const m = microVMAE();
    const bad = () => tf.fill([2, 16, 16, 3], 1.5) as tf.Tensor4D;
    await expect(trainVMAE({ model: m, data: bad, steps: 1, batchSize: 2 })).rejects.toThrow(
      /images values must lie in \[-1, 1\].*got \[1\.5, 1\.5\]/,
    );
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
