/**
 * The LightningDiT training step that dit.ts and threads.ts time: what DiffusionTrainer does per batch
 * (rectified-flow loss, gradients of every parameter, AdamW) on one fixed batch of random latents and
 * labels.
 */
import { createRng } from '@ldmae/core';
import { DiffusionTrainer, LightningDiT } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';

/** The model and batch of a benchmark: a preset for latents of size x size x channels. */
export interface DitBench {
  preset: string;
  size: number;
  channels: number;
  classes: number;
  batch: number;
}

/** The benchmarked LightningDiT (qk-norm, seed 0). */
export function makeDit(b: DitBench): LightningDiT {
  return new LightningDiT(
    { preset: b.preset, inputSize: b.size, inChannels: b.channels, numClasses: b.classes, qkNorm: true },
    { seed: 0 },
  );
}

/**
 * A model, its trainer (no EMA) and one batch drawn from `rng` (seed 2, which the caller may draw on
 * further); `step` runs one training step and returns the loss, `dispose` releases all of it.
 */
export function ditTraining(b: DitBench) {
  const model = makeDit(b);
  const trainer = new DiffusionTrainer({ denoiser: model, ema: false, seed: 1 });
  const rng = createRng(2);
  const latents = rng.normal([b.batch, b.size, b.size, b.channels]);
  const labels = tf.tensor1d(
    Int32Array.from({ length: b.batch }, () => rng.nextInt(b.classes)),
    'int32',
  );
  const named = new Map(model.namedParameters().map(([n, v]) => [v.name, n]));
  const step = () => {
    const { value, grads } = tf.variableGrads(() => trainer.lossFn({ latents, labels }, 0) as tf.Scalar);
    const byName: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) byName[named.get(k)!] = g;
    trainer.optimizer.step(byName);
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  const dispose = () => {
    tf.dispose([latents, labels]);
    trainer.dispose();
    model.dispose();
  };
  return { model, rng, step, dispose };
}
