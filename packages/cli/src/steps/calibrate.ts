/**
 * Turning a time budget into step counts: time a few training steps of a throwaway copy of the model
 * (after warm-up steps, which compile kernels and fill caches), then divide.
 */
import { createRng, type TrainProgressEvent } from '@ldmae/core';
import { DataLoader } from '@ldmae/data';
import type { FeatureExtractor } from '@ldmae/metrics';
import { trainVMAE, type VMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { createAutoencoder, DEFAULT_PRESET } from '../autoencoders.js';
import type { LoadedData } from '../data-source.js';
import { buildDenoiser, newTrainer, type TrainLdmSettings } from './train-ldm.js';

/**
 * Step counts over what a training's seconds fit at the calibrated speed, for trainings that run on a
 * clock (`maxSeconds`): they stop when their seconds are used, and their learning-rate schedule follows
 * whichever of steps and time is further along, so the step count binds only on a machine this much
 * faster than its calibration said (a few timed steps are off by 10-40 % either way on a busy machine).
 */
export const STEP_HEADROOM = 1.5;

/**
 * Warm-up and timed steps of the calibration. A VMAE step on wasm keeps getting faster for its first
 * ~15 steps (0.33 s for steps 1-5, 0.22 s for 5-10, 0.19 s from 15 on, `ldmae train-ae --json`), so
 * 2 + 4 steps overestimated the step time by half and the quickstart left 40 % of the VMAE budget
 * unused; the diffusion model settles sooner.
 */
export const CALIBRATION_STEPS = { ae: { warmup: 12, measure: 6 }, ldm: { warmup: 6, measure: 4 } } as const;

/** Timed calls of {@link medianCallSeconds}, after one warm-up call. */
export const TIMED_CALLS = 3;

/**
 * Seconds of one call of `call`: the median of {@link TIMED_CALLS} calls after a warm-up call (kernels
 * compile, caches fill). One timed call was at the mercy of a busy moment: the quickstart once measured
 * its extractor at half the speed it then ran at, and ended its diffusion training a minute early.
 */
export async function medianCallSeconds(call: () => Promise<unknown>): Promise<number> {
  await call();
  const times: number[] = [];
  for (let i = 0; i < TIMED_CALLS; i++) {
    const t0 = performance.now();
    await call();
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[TIMED_CALLS >> 1];
}

/** Seconds per step from the timestamps of `warmup + measure` progress events. */
async function timeSteps(
  run: (steps: number, onProgress: (ev: TrainProgressEvent) => void) => Promise<unknown>,
  { warmup, measure }: { warmup: number; measure: number },
): Promise<number> {
  let t0 = 0;
  let t1 = 0;
  await run(warmup + measure, (ev) => {
    if (ev.step === warmup) t0 = performance.now();
    if (ev.step === warmup + measure) t1 = performance.now();
  });
  return (t1 - t0) / 1000 / measure;
}

/** Seconds per VMAE training step (the default preset) at this batch size on this machine. */
export async function vmaeStepSeconds(data: LoadedData, batchSize: number, seed: number): Promise<number> {
  const ae = createAutoencoder('vmae', DEFAULT_PRESET.vmae, data.imageSize, seed) as VMAE;
  const loader = new DataLoader(data.dataset, { batchSize, seed, transform: data.transform });
  try {
    return await timeSteps(
      (steps, onProgress) =>
        trainVMAE({ model: ae, data: loader, steps, batchSize, lr: 1e-4, seed, onProgress }),
      CALIBRATION_STEPS.ae,
    );
  } finally {
    await loader.close();
    ae.dispose();
  }
}

/** Seconds per diffusion training step on random latents of `shape`. */
export async function ldmStepSeconds(
  s: TrainLdmSettings,
  shape: [number, number, number],
  numClasses: number,
): Promise<number> {
  const denoiser = buildDenoiser(s, shape, numClasses);
  const trainer = newTrainer(denoiser, s, numClasses);
  const rng = createRng(s.seed);
  try {
    return await timeSteps(
      (steps, onProgress) =>
        trainer.train({
          data: () => ({
            latents: rng.normal([s.batchSize, ...shape]),
            labels: tf.tensor1d(
              Int32Array.from({ length: s.batchSize }, () => rng.nextInt(numClasses)),
              'int32',
            ),
          }),
          steps,
          onProgress,
        }),
      CALIBRATION_STEPS.ldm,
    );
  } finally {
    trainer.dispose();
    denoiser.dispose();
  }
}

/**
 * Seconds per image of sampling with `sampleSteps` guided steps, from one denoiser call on the doubled
 * batch (conditional and unconditional) of `batch` images: the cost of a sampler step, whatever the
 * weights are.
 */
export async function ldmSampleSeconds(
  s: TrainLdmSettings,
  shape: [number, number, number],
  numClasses: number,
  sampleSteps: number,
  batch = 50,
): Promise<number> {
  const denoiser = buildDenoiser(s, shape, numClasses);
  denoiser.eval();
  const x = createRng(s.seed).normal([2 * batch, ...shape]);
  const t = tf.fill([2 * batch], 0.5);
  const y = tf.tensor1d(
    Int32Array.from({ length: 2 * batch }, (_, i) => i % (numClasses + 1)),
    'int32',
  );
  const call = async () => {
    const out = denoiser.forward(x, t, y);
    await out.data();
    out.dispose();
  };
  try {
    return ((await medianCallSeconds(call)) / batch) * sampleSteps;
  } finally {
    tf.dispose([x, t, y]);
    denoiser.dispose();
  }
}

/** Seconds per image of the feature extractor at its input size. */
export async function extractorSecondsPerImage(
  extractor: FeatureExtractor,
  imageSize: number,
): Promise<number> {
  const x = tf.tidy(() =>
    tf.sub(tf.mul(createRng(0).uniform([8, imageSize, imageSize, 3]), 2), 1),
  ) as tf.Tensor4D;
  try {
    return (await medianCallSeconds(() => extractor.extract(x))) / 8;
  } finally {
    x.dispose();
  }
}
