/**
 * The Node side of the GPU benchmark: training throughput of the VMAE and of LightningDiT, and
 * sampling throughput, on @ldmae/core's WebGPU backend (Dawn through the `webgpu` package). Prints one
 * JSON line; run.sh runs it beside the same models in PyTorch CUDA and prints the ratios.
 *
 *   node bench.mjs [--smoke] [--steps 10] [--warmup 3] [--sample-steps 25] [--cfg 4]
 *
 * Default shapes: VMAE f8d16 at 256 px, batch 32, stage 1 (mask 0.25, no LPIPS, AdamW);
 * LightningDiT-B/1 on 16 x 16 x 16 latents, 1000 classes, batch 32 (rectified flow, AdamW);
 * sampling: Euler with classifier-free guidance (a doubled batch per step), 32 images per batch.
 * --smoke: tiny shapes that run in seconds on a software adapter (Mesa llvmpipe), to check the
 * pack; without it a software adapter is refused (its numbers would mean nothing).
 */
import { AdamW, backendAdapter, createRng, setupBackend, train } from '@ldmae/core';
import { FlowEulerScheduler, LightningDiT, RectifiedFlow, sampleLoop } from '@ldmae/diffusion';
import { createVMAE, trainVMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0, got '${args[i + 1]}'`);
  return v;
};
const SMOKE = flag('--smoke');
const STEPS = opt('--steps', SMOKE ? 2 : 10);
const WARMUP = opt('--warmup', SMOKE ? 1 : 3);
const SAMPLE_STEPS = opt('--sample-steps', SMOKE ? 2 : 25);
const CFG = opt('--cfg', 4);

const VMAE = SMOKE
  ? { preset: 'f4d4-tiny' as const, img: 16, batch: 2 }
  : { preset: 'f8d16' as const, img: 256, batch: 32 };
const DIT = SMOKE
  ? { preset: 'LightningDiT-Nano/1', size: 4, channels: 4, classes: 10, batch: 2, sampleBatch: 2 }
  : { preset: 'LightningDiT-B/1', size: 16, channels: 16, classes: 1000, batch: 32, sampleBatch: 32 };

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Median seconds between progress events after the warm-up steps. */
function stepSeconds(stamps: number[], start: number): number[] {
  return stamps.map((t, i) => (t - (i === 0 ? start : stamps[i - 1])) / 1000).slice(WARMUP);
}

async function benchVMAE() {
  const model = createVMAE(VMAE.preset, { imgSize: VMAE.img }, { rng: createRng(0) });
  const x = createRng(1).uniform([VMAE.batch, VMAE.img, VMAE.img, 3], -1, 1);
  const stamps: number[] = [];
  const start = performance.now();
  // The loop reads each step's loss back (asynchronously), so a step's time includes the GPU's work.
  await trainVMAE({
    model,
    data: () => x.clone(),
    steps: WARMUP + STEPS,
    batchSize: VMAE.batch,
    lr: 1e-4,
    seed: 0,
    onProgress: () => void stamps.push(performance.now()),
  });
  const times = stepSeconds(stamps, start);
  const params = model.numParameters();
  x.dispose();
  model.dispose();
  const s = median(times);
  return {
    ...VMAE,
    params,
    stepSeconds: s,
    bestStepSeconds: Math.min(...times),
    imagesPerSec: VMAE.batch / s,
  };
}

async function benchDiT() {
  const model = new LightningDiT(
    { preset: DIT.preset, inputSize: DIT.size, inChannels: DIT.channels, numClasses: DIT.classes },
    { seed: 0 },
  );
  const flow = new RectifiedFlow();
  const rng = createRng(2);
  const latents = rng.normal([DIT.batch, DIT.size, DIT.size, DIT.channels]);
  const labelValues = Int32Array.from({ length: DIT.batch }, () => rng.nextInt(DIT.classes));
  // The same optimiser settings as dit_torch.py's bench.
  const optimizer = AdamW.forModule(model, { lr: 2e-4, betas: [0.9, 0.95], weightDecay: 0 });
  const stamps: number[] = [];
  const start = performance.now();
  await train({
    model,
    optimizer,
    steps: WARMUP + STEPS,
    data: () => latents.clone(),
    // Labels from host values each step, as the trainer's loader makes them.
    lossFn: (b) => flow.loss(model, b, rng, { labels: tf.tensor1d(labelValues, 'int32') }),
    onProgress: () => void stamps.push(performance.now()),
  });
  const times = stepSeconds(stamps, start);
  optimizer.dispose();
  latents.dispose();

  model.eval();
  const sampleTimes: number[] = [];
  for (let i = 0; i < (SMOKE ? 1 : 3); i++) {
    const noise = rng.normal([DIT.sampleBatch, DIT.size, DIT.size, DIT.channels]);
    const ys = Int32Array.from({ length: DIT.sampleBatch }, () => rng.nextInt(DIT.classes));
    const t0 = performance.now();
    const out = await sampleLoop({
      denoiser: model,
      scheduler: new FlowEulerScheduler(),
      noise,
      steps: SAMPLE_STEPS,
      labels: ys,
      guidance: CFG === 1 ? null : { scale: CFG },
    });
    await out.data();
    sampleTimes.push((performance.now() - t0) / 1000);
    tf.dispose([noise, out]);
  }
  const config = model.toJSON();
  const params = model.numParameters();
  model.dispose();
  const s = median(times);
  const ss = median(sampleTimes);
  return {
    ...DIT,
    params,
    config,
    stepSeconds: s,
    bestStepSeconds: Math.min(...times),
    imagesPerSec: DIT.batch / s,
    sample: {
      steps: SAMPLE_STEPS,
      cfg: CFG,
      batch: DIT.sampleBatch,
      seconds: ss,
      imagesPerSec: DIT.sampleBatch / ss,
    },
  };
}

async function main(): Promise<void> {
  await setupBackend({ backend: 'webgpu' });
  const adapter = backendAdapter();
  if (!adapter) throw new Error('bench: WebGPU is set up but reports no adapter');
  if (adapter.software && !SMOKE)
    throw new Error(`bench: ${adapter.name} is a software adapter; use --smoke to check the pack on it`);
  const before = tf.memory().numTensors;
  const vmae = await benchVMAE();
  const dit = await benchDiT();
  if (tf.memory().numTensors !== before)
    throw new Error(`bench: ${tf.memory().numTensors - before} tensors leaked`);
  console.log(
    JSON.stringify({
      runtime: 'tfjs-webgpu (Dawn)',
      node: process.version,
      adapter,
      smoke: SMOKE,
      steps: STEPS,
      warmup: WARMUP,
      vmae,
      dit,
    }),
  );
}

await main();
