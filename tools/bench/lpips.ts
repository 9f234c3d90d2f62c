/**
 * Cost of the perceptual (LPIPS) term in VMAE training: a stage-1 `trainVMAE` step with and without
 * the offline LPIPS (nsfwjs InceptionV3 trunk, uniform lin weights, inputs below 43 px bilinearly
 * upsampled to 64 px), on the wasm backend, alternating the two variants in rounds so that both see
 * the same machine load, and the ratio "with / without" in wall time and in process CPU time (the
 * latter is robust to other processes on a shared machine: the step runs on one thread).
 *
 *   npx tsx tools/bench/lpips.ts [--preset f4d4-tiny] [--img 28] [--batch 32] [--rounds 4] [--steps 3]
 *                                [--weight 0.5] [--threads N] [--profile] [--json PATH]
 *
 * Each round runs `--steps` timed steps of each variant after one untimed step (the first step of a
 * `trainVMAE` call builds the optimiser). The same model keeps training across rounds; every variant
 * trains on the same random images in [-1, 1]. `--profile` prints the per-kernel time of one step of
 * each variant (tf.profile); `--json PATH` writes the rows and the ratio for `npm run bench`.
 */
import { loadavg } from 'node:os';
import { backendThreads, createRng, setupBackend } from '@ldmae/core';
import { type Lpips, loadOfflineLpips } from '@ldmae/losses';
import { createVMAE, trainVMAE, type VMAE, type VMAEPresetName } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { flag, opt } from './args.js';
import { printProfile } from './profile.js';
import { Report } from './report.js';

const PRESET = opt('--preset', 'f4d4-tiny') as VMAEPresetName;
const IMG = Number(opt('--img', '28'));
const BATCH = Number(opt('--batch', '32'));
const ROUNDS = Number(opt('--rounds', '4'));
const STEPS = Number(opt('--steps', '3'));
const WEIGHT = Number(opt('--weight', '0.5'));
const THREADS = Number(opt('--threads', '1'));

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const load = () =>
  loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');

await setupBackend({ backend: 'wasm', threads: THREADS });
const lpips = await loadOfflineLpips();
const model = createVMAE(PRESET, { imgSize: IMG }, { rng: createRng(0) });
const x = createRng(1).uniform([BATCH, IMG, IMG, 3], -1, 1);
console.log(
  `VMAE ${PRESET} at ${IMG} px, batch ${BATCH}, stage 1, LPIPS weight ${WEIGHT} (${lpips.trunkName}, ` +
    `${IMG} -> ${lpips.trunkInputSize(IMG, IMG).join('x')} px); tfjs wasm, ${backendThreads()} thread(s); ` +
    `${ROUNDS} rounds of ${STEPS} timed steps per variant; load average ${load()}`,
);

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Wall and process-CPU ms of each timed step of one `trainVMAE` call (its first step is not timed). */
async function timeSteps(withLpips: boolean, steps: number): Promise<{ wall: number[]; cpu: number[] }> {
  const stamps: number[] = [];
  const cpuStamps: number[] = [];
  const before = tf.memory().numTensors;
  await trainVMAE({
    model,
    data: () => x.clone(),
    steps: steps + 1,
    batchSize: BATCH,
    lr: 1e-4,
    seed: 0,
    ...(withLpips ? { lpips, lpipsWeight: WEIGHT } : {}),
    onProgress: () => {
      stamps.push(performance.now());
      cpuStamps.push(cpuNow());
    },
  });
  if (tf.memory().numTensors !== before)
    throw new Error(`bench: ${tf.memory().numTensors - before} tensors leaked`);
  const deltas = (v: number[]) => v.slice(1).map((t, i) => t - v[i]);
  return { wall: deltas(stamps), cpu: deltas(cpuStamps) };
}

/** Kernel time of one training step's loss and gradients, grouped by kernel. */
async function profile(model: VMAE, lp: Lpips | null, title: string) {
  const rng = createRng(2);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => model.forward(x, { rng, lpips: lp, lpipsWeight: WEIGHT }).loss,
        model.parameters(),
      );
      value.dataSync();
      for (const g of Object.values(grads)) g.dataSync();
    });
  });
  console.log('');
  printProfile(info, title, 16, 14);
}

const times = { with: [] as number[], without: [] as number[] };
const cpu = { with: [] as number[], without: [] as number[] };
await timeSteps(true, 1); // warm-up: kernel set-up and the first allocations of both variants
await timeSteps(false, 1);
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which variant goes first, so a load change inside a round hits both alike.
  const order = r % 2 === 0 ? [true, false] : [false, true];
  for (const w of order) {
    const t = await timeSteps(w, STEPS);
    times[w ? 'with' : 'without'].push(...t.wall);
    cpu[w ? 'with' : 'without'].push(...t.cpu);
  }
}
const med = { with: median(times.with), without: median(times.without) };
const best = { with: Math.min(...times.with), without: Math.min(...times.without) };
const cpuMed = { with: median(cpu.with), without: median(cpu.without) };
const ratio = med.with / med.without;
const cpuRatio = cpuMed.with / cpuMed.without;

console.log('\n| variant | ms / step (median) | best | steps / s | CPU ms / step (median) | steps |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const k of ['without', 'with'] as const) {
  console.log(
    `| ${k} LPIPS | ${med[k].toFixed(1)} | ${best[k].toFixed(1)} | ${(1000 / med[k]).toFixed(2)} | ` +
      `${cpuMed[k].toFixed(1)} | ${times[k].length} |`,
  );
}
console.log(
  `with / without: ${ratio.toFixed(2)}x at the median, ${(best.with / best.without).toFixed(2)}x best to best, ` +
    `${cpuRatio.toFixed(2)}x in CPU time; load average ${load()}`,
);

if (flag('--profile')) {
  await profile(model, lpips, 'wasm kernel time of one step with LPIPS');
  await profile(model, null, 'wasm kernel time of one step without LPIPS');
}

const label = (k: string) => `VMAE ${PRESET} step ${k} LPIPS (${IMG} px, batch ${BATCH}, wasm)`;
const report = new Report('lpips');
report
  .row(label('without'), med.without, 'ms/step')
  .row(label('with'), med.with, 'ms/step')
  .row(`${label('without')}, best`, best.without, 'ms/step')
  .row(`${label('with')}, best`, best.with, 'ms/step')
  .row(`${label('without')}, CPU time`, cpuMed.without, 'ms/step')
  .row(`${label('with')}, CPU time`, cpuMed.with, 'ms/step')
  // Speed ratios, as every report: the step with the perceptual term against the step without.
  .ratio('step with the perceptual term (LPIPS) / step without: steps / s', 1 / ratio, label('without'))
  .ratio(
    'step with the perceptual term (LPIPS) / step without: steps per CPU second',
    1 / cpuRatio,
    `${label('without')}, CPU time`,
  )
  .note(
    `${backendThreads()} wasm thread(s), ${ROUNDS} alternating rounds of ${STEPS} steps per variant, ` +
      `LPIPS weight ${WEIGHT}, ${lpips.trunkName}; the step with it takes ${ratio.toFixed(2)}x the time; load average ${load()}`,
  );
report.write();

x.dispose();
model.dispose();
lpips.dispose();
