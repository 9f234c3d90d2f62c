/**
 * Training throughput and sampling latency of a small LightningDiT on the wasm and cpu backends, and of
 * the same configuration in PyTorch on the CPU (tools/bench/dit_torch.py, run by the system python3
 * with Debian's python3-torch), with the ratios between them.
 *
 *   npx tsx tools/bench/dit.ts [--preset LightningDiT-Ti/1] [--size 8] [--channels 4] [--classes 10]
 *                              [--batch 16] [--iters 5] [--sample-steps 10] [--sample-batch 8]
 *                              [--cfg 4] [--torch-threads N] [--no-cpu] [--no-torch] [--no-install]
 *                              [--profile] [--threads N]   (wasm threads; default setupBackend's)
 *                              [--rounds R]   (alternate wasm and PyTorch R times; default 1)
 *                              [--json PATH]   (also write the results as JSON, see report.ts)
 *
 * With `--rounds R`, wasm and PyTorch take turns (wasm first in odd rounds, PyTorch first in even ones),
 * each measuring `--iters` steps and 3 sampling runs per round, so that a change in the machine's speed
 * hits both alike; each side's figure is the median of its per-round medians (best: the best of all).
 * PyTorch starts a fresh process each round, with its own warm-up.
 *
 * `--profile` prints the kernels of one wasm training step and of one sampling run.
 *
 * A training step is what DiffusionTrainer does per batch: rectified-flow loss (logit-normal t,
 * fresh noise, label dropout), gradients of every parameter, AdamW (lr 2e-4, betas 0.9 / 0.95). Sampling
 * is the Euler ODE sampler with classifier-free guidance (a doubled batch per step). If torch is not
 * importable by /usr/bin/python3 the script installs it with apt (`apt-get install -y python3-torch
 * libopenblas0-pthread`) unless --no-install; `LDMAE_BENCH_PYTHON` names another interpreter.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backendThreads, setupBackend } from '@ldmae/core';
import { FlowEulerScheduler, sampleLoop } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { flag, opt } from './args.js';
import { wasmThreadsNote } from './backend-note.js';
import { type DitBench, ditTraining, makeDit } from './dit-train.js';
import { printProfile } from './profile.js';
import { Report, threads } from './report.js';
import { torchEnv } from './torch-env.js';

const PRESET = opt('--preset', 'LightningDiT-Ti/1');
const SIZE = Number(opt('--size', '8'));
const CHANNELS = Number(opt('--channels', '4'));
const CLASSES = Number(opt('--classes', '10'));
const BATCH = Number(opt('--batch', '16'));
const ITERS = Number(opt('--iters', '5'));
const SAMPLE_STEPS = Number(opt('--sample-steps', '10'));
const SAMPLE_BATCH = Number(opt('--sample-batch', '8'));
const CFG = Number(opt('--cfg', '4'));
const THREADS = Number(opt('--threads', '0')) || undefined;
const XNNPACK_THREADS = Number(opt('--xnnpack-threads', '0')) || undefined;
const ROUNDS = Math.max(1, Number(opt('--rounds', '1')));
const PY = process.env.LDMAE_BENCH_PYTHON || '/usr/bin/python3';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

interface Timing {
  trainMs: number;
  trainBestMs: number;
  sampleMsPerImage: number;
  sampleBestMsPerImage: number;
}

const SHAPE: DitBench = { preset: PRESET, size: SIZE, channels: CHANNELS, classes: CLASSES, batch: BATCH };

/** A model set up and warmed up on `backend`, measured as often as asked. */
interface Session {
  measure(trainIters: number, sampleIters: number): Promise<Timing>;
  dispose(): void;
}

async function openSession(backend: 'wasm' | 'cpu', sampleBatch: number): Promise<Session> {
  await setupBackend({ backend, threads: THREADS, xnnpackThreads: XNNPACK_THREADS });
  const { model, rng, step, dispose } = ditTraining(SHAPE);
  step(); // warm-up (kernel set-up, first allocations)
  let profiled = !(flag('--profile') && backend === 'wasm');
  const sample = async () => {
    model.eval();
    const noise = rng.normal([sampleBatch, SIZE, SIZE, CHANNELS]);
    const ys = Int32Array.from({ length: sampleBatch }, () => rng.nextInt(CLASSES));
    const t0 = performance.now();
    const out = await sampleLoop({
      denoiser: model,
      scheduler: new FlowEulerScheduler(),
      noise,
      steps: SAMPLE_STEPS,
      labels: ys,
      guidance: CFG === 1 ? null : { scale: CFG },
    });
    out.dataSync();
    const ms = performance.now() - t0;
    tf.dispose([noise, out]);
    model.train();
    return ms / sampleBatch;
  };
  const measure = async (trainIters: number, sampleIters: number): Promise<Timing> => {
    const before = tf.memory().numTensors;
    const train: number[] = [];
    for (let i = 0; i < trainIters; i++) {
      const t0 = performance.now();
      step();
      train.push(performance.now() - t0);
    }
    if (tf.memory().numTensors !== before)
      throw new Error(`bench: training leaked ${tf.memory().numTensors - before} tensors`);
    const samples: number[] = [];
    for (let i = 0; i < sampleIters; i++) samples.push(await sample());
    if (!profiled) {
      profiled = true;
      printProfile(await tf.profile(step), 'kernel time of one wasm training step');
      printProfile(await tf.profile(sample), `kernel time of one sampling run (${sampleBatch} images)`);
    }
    return {
      trainMs: median(train),
      trainBestMs: Math.min(...train),
      sampleMsPerImage: median(samples),
      sampleBestMsPerImage: Math.min(...samples),
    };
  };
  return { measure, dispose };
}

/** Several rounds' timings as one: medians of the per-round medians, the best of the bests. */
function combine(rounds: Timing[]): Timing {
  return {
    trainMs: median(rounds.map((t) => t.trainMs)),
    trainBestMs: Math.min(...rounds.map((t) => t.trainBestMs)),
    sampleMsPerImage: median(rounds.map((t) => t.sampleMsPerImage)),
    sampleBestMsPerImage: Math.min(...rounds.map((t) => t.sampleBestMsPerImage)),
  };
}

function torchAvailable(): boolean {
  return spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function ensureTorch(): boolean {
  if (torchAvailable()) return true;
  if (flag('--no-install')) return false;
  console.log('installing python3-torch and libopenblas0-pthread with apt ...');
  const r = spawnSync(
    'sh',
    ['-c', 'apt-get update && apt-get install -y python3-torch libopenblas0-pthread'],
    {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    },
  );
  return r.status === 0 && torchAvailable();
}

function timeTorch(config: unknown): Timing & { torch: string; threads: number } {
  const script = fileURLToPath(new URL('./dit_torch.py', import.meta.url));
  const torchThreads = flag('--torch-threads') ? Number(opt('--torch-threads', '1')) : undefined;
  const cfg = {
    ...(config as object),
    batch: BATCH,
    iters: ITERS,
    warmup: 2,
    sampleSteps: SAMPLE_STEPS,
    sampleBatch: SAMPLE_BATCH,
    cfgScale: CFG,
    sampleIters: 3,
    ...(torchThreads !== undefined ? { threads: torchThreads } : {}),
  };
  const r = spawnSync(PY, [script, 'bench', JSON.stringify(cfg)], {
    encoding: 'utf8',
    env: torchEnv(torchThreads),
  });
  if (r.status !== 0) throw new Error(`dit_torch.py failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
  return {
    torch: j.torch,
    threads: j.threads,
    trainMs: j.trainStepMs,
    trainBestMs: j.trainStepBestMs,
    sampleMsPerImage: j.sampleMsPerImage,
    sampleBestMsPerImage: j.sampleBestMsPerImage,
  };
}

async function main(): Promise<void> {
  await setupBackend({ backend: 'wasm', threads: THREADS, xnnpackThreads: XNNPACK_THREADS });
  const probe = makeDit(SHAPE);
  const config = probe.toJSON();
  const params = probe.numParameters();
  probe.dispose();
  const tokens = (SIZE / config.patchSize) ** 2;
  console.log(
    `${PRESET} (depth ${config.depth}, width ${config.hiddenSize}, ${config.numHeads} heads, qk-norm, RoPE, SwiGLU, RMSNorm), ` +
      `${params.toLocaleString('en')} parameters, latents ${SIZE}x${SIZE}x${CHANNELS} (${tokens} tokens), ${CLASSES} classes`,
  );
  console.log(
    `train: batch ${BATCH}, rectified flow + AdamW; sample: Euler ${SAMPLE_STEPS} steps, CFG ${CFG} (doubled batch), ${SAMPLE_BATCH} images per batch`,
  );
  const report = new Report(`${PRESET} training and sampling`);
  report.note(
    `${params.toLocaleString('en')} parameters, latents ${SIZE}x${SIZE}x${CHANNELS}, ${CLASSES} classes; training: batch ${BATCH}, ` +
      `rectified flow + AdamW, median of ${ITERS} steps after 1 warm-up (PyTorch: 2); sampling: Euler ${SAMPLE_STEPS} steps, ` +
      `guidance ${CFG}, ${SAMPLE_BATCH} images per batch, median of 3 runs` +
      `${ROUNDS > 1 ? `, both in each of ${ROUNDS} alternating rounds (medians of the round medians)` : ''}; ` +
      wasmThreadsNote(),
  );
  let torchTiming: (Timing & { torch: string; threads: number }) | undefined;
  const rows: [string, Timing, string][] = [];
  const withTorch = !flag('--no-torch') && ensureTorch();
  if (!flag('--no-torch') && !withTorch) {
    console.log('PyTorch: not available (skipped)');
    report.note('PyTorch not installed: no PyTorch rows or ratios');
  }
  const session = await openSession('wasm', SAMPLE_BATCH);
  const wasmRounds: Timing[] = [];
  const torchRounds: (Timing & { torch: string; threads: number })[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const which of r % 2 ? ['torch', 'wasm'] : ['wasm', 'torch']) {
      if (which === 'wasm') wasmRounds.push(await session.measure(ITERS, 3));
      else if (withTorch) torchRounds.push(timeTorch(config));
    }
  }
  session.dispose();
  const per = ROUNDS > 1 ? ` per round, ${ROUNDS} rounds alternating with PyTorch` : '';
  rows.push([
    `tfjs wasm, ${backendThreads()} thread(s)`,
    combine(wasmRounds),
    `median of ${ITERS} steps, 3 sampling runs${per}`,
  ]);
  // The pure-JS backend is ~30-100x slower: one step, and one sampling run of a single image.
  if (!flag('--no-cpu')) {
    const cpu = await openSession('cpu', 1);
    rows.push(['tfjs cpu', await cpu.measure(1, 1), '1 step, 1 sampling run of 1 image']);
    cpu.dispose();
  }
  if (withTorch) {
    const first = torchRounds[0];
    torchTiming = { ...combine(torchRounds), torch: first.torch, threads: first.threads };
    rows.push([
      `PyTorch ${first.torch} CPU`,
      torchTiming,
      `${first.threads} threads, median of ${ITERS} steps, 3 sampling runs${per}`,
    ]);
  }
  if (ROUNDS > 1) {
    const list = (ts: Timing[], k: keyof Timing) => ts.map((t) => t[k].toFixed(0)).join(' / ');
    report.note(
      `per round, ms per step: wasm ${list(wasmRounds, 'trainMs')}, PyTorch ${list(torchRounds, 'trainMs')}; ` +
        `ms per image: wasm ${list(wasmRounds, 'sampleMsPerImage')}, PyTorch ${list(torchRounds, 'sampleMsPerImage')}`,
    );
  }
  console.log('');
  console.log(
    `${'runtime'.padEnd(22)} ${'ms/step'.padStart(9)} ${'steps/s'.padStart(8)} ${'ms/image'.padStart(9)}   notes`,
  );
  for (const [name, t, note] of rows) {
    console.log(
      `${name.padEnd(22)} ${t.trainMs.toFixed(0).padStart(9)} ${(1000 / t.trainMs).toFixed(2).padStart(8)} ${t.sampleMsPerImage.toFixed(1).padStart(9)}   ` +
        `${note}; best ${t.trainBestMs.toFixed(0)} ms/step, ${t.sampleBestMsPerImage.toFixed(1)} ms/image`,
    );
  }
  const wasm = rows[0][1];
  console.log('');
  for (const [name, t] of rows.slice(1)) {
    console.log(
      `${name} / wasm: training ${(t.trainMs / wasm.trainMs).toFixed(2)}x the time per step, sampling ${(t.sampleMsPerImage / wasm.sampleMsPerImage).toFixed(2)}x the time per image`,
    );
  }
  for (const [label, t] of rows) {
    let name = label.replace(/(\d+) thread\(s\)/, (_, n) => threads(Number(n)));
    if (torchTiming && t === torchTiming) name += `, ${threads(torchTiming.threads)}`;
    report
      .row(`${name}: training steps / s`, 1000 / t.trainMs, 'steps/s')
      .row(`${name}: training ms / step (median)`, t.trainMs, 'ms')
      .row(`${name}: sampling images / s`, 1000 / t.sampleMsPerImage, 'images/s')
      .row(`${name}: sampling ms / image (median)`, t.sampleMsPerImage, 'ms');
  }
  if (torchTiming) {
    const ours = `tfjs wasm ${threads(backendThreads() ?? 1)}`;
    const theirs = `PyTorch ${threads(torchTiming.threads)}`;
    const against = `PyTorch ${torchTiming.torch} CPU, ${threads(torchTiming.threads)}`;
    report
      .ratio(`${ours} / ${theirs}: training steps / s`, torchTiming.trainMs / wasm.trainMs, against)
      .ratio(
        `${ours} / ${theirs}: sampling images / s`,
        torchTiming.sampleMsPerImage / wasm.sampleMsPerImage,
        against,
      );
  }
  report.write();
}

await main();
