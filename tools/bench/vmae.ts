/**
 * Training throughput of the VMAE (stage 1: mask 0.25, the full objective without LPIPS, AdamW) on the
 * wasm and cpu backends, and of the same configuration in PyTorch on the CPU in the same run
 * (tools/bench/vmae_torch.py under the system python3), with the ratio.
 *
 *   npx tsx tools/bench/vmae.ts [--preset f4d4-tiny] [--img 28] [--batch 32] [--steps 20] [--warmup 3]
 *                               [--cpu-steps 2] [--no-cpu] [--no-torch] [--no-install] [--torch-threads 1,2] [--profile]
 *                               [--threads N]   (wasm threads; default setupBackend's: the CPUs, at most 8)
 *                               [--json PATH]   (also write the results as JSON, see report.ts)
 *
 * PyTorch is Debian's python3-torch (1.13); when it is missing and the script runs as root it runs
 * `apt-get update && apt-get install -y python3-torch libopenblas0-pthread` first (without
 * libopenblas0-pthread torch falls back to the reference BLAS and the comparison is meaningless);
 * `--no-install` skips that. `LDMAE_BENCH_PYTHON` names another interpreter than /usr/bin/python3.
 * Every framework trains on the same random images in [-1, 1] (data loading is not timed).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { backendThreads, createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { createVMAE, trainVMAE, type VMAE, type VMAEPresetName } from '../../packages/vmae/src/index.js';
import { flag, opt } from './args.js';
import { wasmThreadsNote } from './backend-note.js';
import { printProfile } from './profile.js';
import { Report, threads as threadCount } from './report.js';
import { torchEnv } from './torch-env.js';

const PRESET = opt('--preset', 'f4d4-tiny') as VMAEPresetName;
const IMG = Number(opt('--img', '28'));
const BATCH = Number(opt('--batch', '32'));
const STEPS = Number(opt('--steps', '20'));
const WARMUP = Number(opt('--warmup', '3'));
const CPU_STEPS = Number(opt('--cpu-steps', '2'));
const THREADS = Number(opt('--threads', '0')) || undefined;
const XNNPACK_THREADS = Number(opt('--xnnpack-threads', '0')) || undefined;
const TORCH_THREADS = opt('--torch-threads', '1,2')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const PYTHON = process.env.LDMAE_BENCH_PYTHON || '/usr/bin/python3';
const TORCH_SCRIPT = fileURLToPath(new URL('./vmae_torch.py', import.meta.url));

interface Row {
  label: string;
  msPerStep: number;
  bestMs: number;
  /** Median process CPU time per step: robust to other processes on a shared machine. */
  cpuMsPerStep: number;
  imagesPerSec: number;
  steps: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Forward FLOPs of one training step's forward pass (2*M*N*K per product; element-wise work not counted). */
function forwardFlops(model: VMAE): number {
  const c = model.config;
  const p = c.patchSize;
  const tokens = (IMG / p) ** 2;
  const kept = Math.trunc(tokens * 0.75);
  const block = (n: number, d: number) => {
    const hidden = Math.trunc(d * c.mlpRatio);
    return 2 * n * d * (3 * d + d + 2 * hidden) + 2 * 2 * n * n * d;
  };
  const enc =
    2 * tokens * p * p * c.inChans * c.embedDim +
    c.depth * block(kept, c.embedDim) +
    2 * kept * c.embedDim * 2 * c.latentDim;
  const dec =
    2 * kept * (c.latentDim * c.embedDim + c.embedDim * c.decoderEmbedDim) +
    c.decoderDepth * block(tokens, c.decoderEmbedDim) +
    2 * tokens * c.decoderEmbedDim * p * p * c.inChans +
    2 * IMG * IMG * 9 * c.inChans * c.inChans;
  return BATCH * (enc + dec);
}

async function runTfjs(
  backend: 'wasm' | 'cpu',
  steps: number,
  warmup: number,
): Promise<Row & { flops: number }> {
  await setupBackend({ backend, threads: THREADS, xnnpackThreads: XNNPACK_THREADS });
  const model = createVMAE(PRESET, { imgSize: IMG }, { rng: createRng(0) });
  const x = createRng(1).uniform([BATCH, IMG, IMG, 3], -1, 1);
  const stamps: number[] = [];
  const cpuStamps: number[] = [];
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const start = performance.now();
  const cpuStart = cpuNow();
  const before = tf.memory().numTensors;
  await trainVMAE({
    model,
    data: () => x.clone(),
    steps: warmup + steps,
    batchSize: BATCH,
    lr: 1e-4,
    seed: 0,
    onProgress: () => {
      stamps.push(performance.now());
      cpuStamps.push(cpuNow());
    },
  });
  if (tf.memory().numTensors !== before)
    throw new Error(`bench: ${tf.memory().numTensors - before} tensors leaked`);
  const times = stamps.map((t, i) => t - (i === 0 ? start : stamps[i - 1])).slice(warmup);
  const cpuTimes = cpuStamps.map((t, i) => t - (i === 0 ? cpuStart : cpuStamps[i - 1])).slice(warmup);
  if (flag('--profile') && backend === 'wasm') await profile(model, x);
  const flops = 3 * forwardFlops(model);
  x.dispose();
  model.dispose();
  const ms = median(times);
  return {
    label: backend === 'wasm' ? `tfjs wasm, ${backendThreads()} thread(s)` : `tfjs ${backend}`,
    msPerStep: ms,
    bestMs: Math.min(...times),
    cpuMsPerStep: median(cpuTimes),
    imagesPerSec: (1000 * BATCH) / ms,
    steps,
    flops,
  };
}

/** Kernel time of one training step (forward, backward), grouped by kernel. */
async function profile(model: VMAE, x: tf.Tensor) {
  const rng = createRng(2);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => model.forward(x, { rng }).loss);
      value.dataSync();
      for (const g of Object.values(grads)) g.dataSync();
    });
  });
  console.log('');
  printProfile(info, 'wasm kernel time of one step');
}

function torchAvailable(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  const blas = spawnSync('dpkg', ['-s', 'libopenblas0-pthread'], { stdio: 'ignore' });
  return r.status === 0 && blas.status === 0;
}

function ensureTorch(): boolean {
  if (torchAvailable()) return true;
  if (flag('--no-install') || process.getuid?.() !== 0) {
    console.log(
      'PyTorch missing: run `apt-get update && apt-get install -y python3-torch libopenblas0-pthread` as root',
    );
    return false;
  }
  console.log('installing python3-torch and libopenblas0-pthread with apt-get (one time) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const inst = spawnSync('apt-get', ['install', '-y', 'python3-torch', 'libopenblas0-pthread'], {
    stdio: 'inherit',
    env,
  });
  return up.status === 0 && inst.status === 0 && torchAvailable();
}

interface TorchRow extends Row {
  info: string;
  framework: string;
  threads: number;
}

function runTorch(threads: number): TorchRow {
  const r = spawnSync(
    PYTHON,
    [
      TORCH_SCRIPT,
      'bench',
      '--preset',
      PRESET,
      '--img',
      String(IMG),
      '--batch',
      String(BATCH),
      '--steps',
      String(STEPS),
      '--warmup',
      String(WARMUP),
      '--threads',
      String(threads),
    ],
    { encoding: 'utf8', env: torchEnv(threads) },
  );
  if (r.status !== 0) throw new Error(`vmae_torch.py failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return {
    label: `pytorch cpu, ${j.threads} thread${j.threads > 1 ? 's' : ''}`,
    framework: j.framework,
    threads: j.threads,
    msPerStep: 1000 * j.median_s,
    bestMs: 1000 * j.best_s,
    cpuMsPerStep: 1000 * j.median_cpu_s,
    imagesPerSec: j.images_per_s,
    steps: j.steps,
    info: `${j.framework}, ${j.params} parameters`,
  };
}

const rows: Row[] = [];
console.log(
  `VMAE ${PRESET} at ${IMG} px, batch ${BATCH}, stage 1 (mask 0.25), ${STEPS} timed steps after ${WARMUP} warm-up; load average ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
const wasm = await runTfjs('wasm', STEPS, WARMUP);
// Read before the cpu backend replaces wasm.
const wasmThreads = threadCount(backendThreads() ?? 1);
const threadsNote = wasmThreadsNote();
rows.push(wasm);
console.log(`model: ${(wasm.flops / 1e9).toFixed(3)} GFLOP per step (matrix products, forward + backward)`);
if (!flag('--no-cpu') && CPU_STEPS > 0) rows.push(await runTfjs('cpu', CPU_STEPS, 1));
const torchRows: TorchRow[] = [];
const torchMissing = !flag('--no-torch') && !ensureTorch();
if (!flag('--no-torch') && !torchMissing) {
  for (const t of TORCH_THREADS) {
    const r = runTorch(t);
    torchRows.push(r);
    rows.push(r);
  }
  console.log(`torch: ${torchRows[0].info}`);
}

console.log(
  '\n| run | ms / step (median) | best | images / s | GFLOP/s | CPU ms / step | images / CPU s | steps |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const gflops = wasm.flops / 1e6 / r.msPerStep;
  console.log(
    `| ${r.label} | ${r.msPerStep.toFixed(1)} | ${r.bestMs.toFixed(1)} | ${r.imagesPerSec.toFixed(1)} | ${gflops.toFixed(2)} | ` +
      `${r.cpuMsPerStep.toFixed(1)} | ${((1000 * BATCH) / r.cpuMsPerStep).toFixed(1)} | ${r.steps} |`,
  );
}
for (const t of torchRows) {
  console.log(
    `tfjs wasm / ${t.label}: ${(wasm.imagesPerSec / t.imagesPerSec).toFixed(2)}x the throughput ` +
      `(${(t.cpuMsPerStep / wasm.cpuMsPerStep).toFixed(2)}x per CPU second)`,
  );
}

const report = new Report(`VMAE ${PRESET} training, wasm ${wasmThreads}`);
report.note(
  `${IMG} px, batch ${BATCH}, stage 1 (mask 0.25, no perceptual term), AdamW; median of ${STEPS} steps after ` +
    `${WARMUP} warm-up; ${(wasm.flops / 1e9).toFixed(3)} GFLOP per step (matrix products); ${threadsNote}`,
);
for (const r of rows) {
  const name = r === wasm ? `tfjs wasm, ${wasmThreads}` : r.label.replace('pytorch cpu', 'PyTorch CPU');
  report
    .row(`${name}: images / s`, r.imagesPerSec, 'images/s')
    .row(`${name}: ms / step (median)`, r.msPerStep, 'ms')
    .row(`${name}: best ms / step`, r.bestMs, 'ms')
    .row(`${name}: CPU ms / step`, r.cpuMsPerStep, 'ms');
}
for (const t of torchRows) {
  const against = `${t.framework.replace('pytorch', 'PyTorch')} CPU, ${threadCount(t.threads)}`;
  const pair = `tfjs wasm ${wasmThreads} / PyTorch ${threadCount(t.threads)}`;
  report
    .ratio(`${pair}: images / s`, wasm.imagesPerSec / t.imagesPerSec, against)
    .ratio(`${pair}: images per CPU second`, t.cpuMsPerStep / wasm.cpuMsPerStep, against);
}
if (torchMissing) report.note('PyTorch not installed: no PyTorch rows or ratios');
if (torchRows[0]) report.note(`PyTorch: ${torchRows[0].info}`);
report.write();
