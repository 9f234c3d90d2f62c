/**
 * Training throughput of the baseline autoencoders (@ldmae/baselines): images per second of one full
 * SD-VAE training step (encode, sample, decode, L1 + LPIPS under the learned logvar, KL, PatchGAN with
 * the adaptive weight, the discriminator's hinge loss, AdamW on all of it) on the wasm and cpu backends.
 *
 *   npx tsx tools/bench/baselines.ts [--preset f4d4-tiny] [--batch 8] [--size 28] [--iters 5]
 *       [--cpu-iters 1] [--kinds sd-vae,ae] [--lpips vgg16|tiny|none] [--no-cpu]
 *
 * The LPIPS trunk is torchvision's VGG16 layout with placeholder (random) weights: the real ImageNet
 * weights are not available offline, and the cost of a step does not depend on the weights' values.
 */
import { availableParallelism, loadavg } from 'node:os';
import {
  type AutoencoderKLPresetName,
  type BaselineKind,
  createBaseline,
  createObjective,
  DEFAULT_BASELINE_PRESET,
  trainBaseline,
} from '@ldmae/baselines';
import { createRng, setupBackend } from '@ldmae/core';
import { Lpips, TorchvisionTrunk, vgg16Trunk } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { flag, opt } from './args.js';

const PRESET = opt('--preset', DEFAULT_BASELINE_PRESET) as AutoencoderKLPresetName;
const BATCH = Number(opt('--batch', '8'));
const SIZE = Number(opt('--size', '28'));
const ITERS = Number(opt('--iters', '5'));
const CPU_ITERS = Number(opt('--cpu-iters', '1'));
const KINDS = opt('--kinds', 'sd-vae').split(',') as BaselineKind[];
const LPIPS = opt('--lpips', 'vgg16');
/** Untimed first steps: wasm compiles and allocates on its first steps; cpu, far slower, gets one. */
const WARMUP = { wasm: 2, cpu: 1 } as const;

function makeLpips(): Lpips | null {
  if (LPIPS === 'none') return null;
  const trunk =
    LPIPS === 'tiny'
      ? new TorchvisionTrunk(
          'tiny-trunk',
          [
            { index: 0, kind: 'conv', in: 3, out: 8, kernel: 3, stride: 1, padding: 1 },
            { index: 1, kind: 'relu' },
            { index: 2, kind: 'maxpool', kernel: 2, stride: 2 },
            { index: 3, kind: 'conv', in: 8, out: 16, kernel: 3, stride: 1, padding: 1 },
            { index: 4, kind: 'relu' },
          ],
          [1, 4],
          { rng: createRng(5) },
        )
      : vgg16Trunk({ rng: createRng(5) });
  return new Lpips(trunk, { lin: 'uniform' });
}

interface Result {
  backend: string;
  kind: BaselineKind;
  steps: number;
  medianMs: number;
  bestMs: number;
  imagesPerSec: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function bench(backend: 'wasm' | 'cpu', kind: BaselineKind, iters: number): Promise<Result> {
  await setupBackend({ backend });
  const lpips = kind === 'sd-vae' ? makeLpips() : null;
  const ae = createBaseline(kind, { preset: PRESET, seed: 1 });
  const objective = createObjective(kind, ae, {
    seed: 2,
    lpips,
    perceptualWeight: lpips ? 1 : 0,
    discStart: 0,
  });
  const images = tf.randomUniform([BATCH, SIZE, SIZE, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const times: number[] = [];
  const tensors: number[] = [];
  let last = performance.now();
  const r = await trainBaseline({
    objective,
    data: () => tf.clone(images) as tf.Tensor4D,
    steps: WARMUP[backend] + iters,
    lr: 1e-4,
    onProgress: () => {
      const now = performance.now();
      times.push(now - last);
      tensors.push(tf.memory().numTensors);
      last = now;
    },
  });
  const timed = times.slice(WARMUP[backend]);
  if (new Set(tensors.slice(1)).size !== 1)
    throw new Error(`${backend} ${kind}: tensor count grew: ${tensors.join(', ')}`);
  r.optimizer.dispose();
  objective.dispose();
  ae.dispose();
  lpips?.dispose();
  images.dispose();
  const ms = median(timed);
  return {
    backend,
    kind,
    steps: timed.length,
    medianMs: ms,
    bestMs: Math.min(...timed),
    imagesPerSec: (1000 * BATCH) / ms,
  };
}

async function main(): Promise<void> {
  console.log(
    `baselines bench: preset ${PRESET}, batch ${BATCH} x ${SIZE}x${SIZE}x3, LPIPS ${LPIPS}, GAN on from step 0; ` +
      `${availableParallelism()} cores, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const results: Result[] = [];
  for (const kind of KINDS) {
    results.push(await bench('wasm', kind, ITERS));
    if (!flag('--no-cpu')) results.push(await bench('cpu', kind, CPU_ITERS));
  }
  console.log('| kind | backend | steps timed | ms / step (median) | best ms | images / s |');
  console.log('| ---- | ------- | ----------- | ------------------ | ------- | ---------- |');
  for (const r of results) {
    console.log(
      `| ${r.kind} | ${r.backend} | ${r.steps} | ${r.medianMs.toFixed(0)} | ${r.bestMs.toFixed(0)} | ${r.imagesPerSec.toFixed(2)} |`,
    );
  }
  for (const kind of KINDS) {
    const w = results.find((r) => r.kind === kind && r.backend === 'wasm');
    const c = results.find((r) => r.kind === kind && r.backend === 'cpu');
    if (w && c) console.log(`${kind}: wasm / cpu = ${(w.imagesPerSec / c.imagesPerSec).toFixed(1)}x`);
  }
}

await main();
