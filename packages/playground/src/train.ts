/**
 * A few training steps of the tiny VMAE (`f4d4-tiny`, the quickstart's autoencoder) on the bundled
 * digits, with the stage-1 recipe (mask ratio 0.25), reporting each step's loss as it goes.
 */
import { createRng } from '@ldmae/core';
import { createVMAE, trainVMAE, type VMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { type Digits, greyToRgb } from './images.js';

/** Options of {@link trainSteps}. */
export interface TrainStepsOptions {
  digits: Digits;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Train this model (e.g. the loaded VMAE); default a fresh `f4d4-tiny` for the digits' size. */
  model?: VMAE;
  /** Called after every step with its loss. */
  onStep?: (step: number, loss: number) => void;
  signal?: AbortSignal;
}

/** What {@link trainSteps} returns; `model` is the caller's (dispose it when it was made here). */
export interface TrainStepsResult {
  model: VMAE;
  losses: number[];
  seconds: number;
}

/** Indices of step `step`'s batch: a seeded draw of `batchSize` digits without replacement. */
export function batchIndices(n: number, batchSize: number, seed: number, step: number): number[] {
  const rng = createRng(seed * 7919 + step);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return Array.from({ length: batchSize }, (_, i) => idx[i % n]);
}

/** Run `steps` optimiser steps; yields to the page between steps so the plot can redraw. */
export async function trainSteps(o: TrainStepsOptions): Promise<TrainStepsResult> {
  if (!Number.isInteger(o.steps) || o.steps < 1)
    throw new RangeError(`trainSteps: steps must be an integer >= 1, got ${o.steps}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new RangeError(`trainSteps: batchSize must be an integer >= 1, got ${o.batchSize}`);
  const { digits } = o;
  const model =
    o.model ??
    createVMAE('f4d4-tiny', { imgSize: digits.size }, { inputRange: 'clamp', rng: createRng(o.seed) });
  const losses: number[] = [];
  const t0 = performance.now();
  try {
    await trainVMAE({
      model,
      data: {
        next: async () => {
          await new Promise((r) => setTimeout(r, 0));
          const idx = batchIndices(digits.images.length, o.batchSize, o.seed, losses.length);
          const host = greyToRgb(
            idx.map((i) => digits.images[i]),
            digits.size,
          );
          return tf.tensor4d(host.data, host.shape);
        },
      },
      steps: o.steps,
      batchSize: o.batchSize,
      lr: o.lr,
      minLr: o.lr / 10,
      warmupSteps: 0,
      seed: o.seed,
      onProgress: (ev) => {
        losses.push(ev.loss);
        o.onStep?.(ev.step, ev.loss);
      },
      signal: o.signal,
    });
  } catch (e) {
    if (!o.model) model.dispose();
    throw e;
  }
  return { model, losses, seconds: (performance.now() - t0) / 1000 };
}
