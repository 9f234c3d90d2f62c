/**
 * Training speed of the wasm backend in Node at several thread counts, in one run: VMAE `f4d4-tiny`
 * stage 1 (28 px, batch 32, as tools/bench/vmae.ts) and LightningDiT-Ti/1 (8 x 8 x 4 latents, batch 16,
 * as tools/bench/dit.ts), with the ratio of each count to the first.
 *
 *   npx tsx tools/bench/threads.ts [--threads 1,2/1,2/2] [--rounds 2] [--vmae-steps 12] [--dit-steps 8]
 *                                  [--warmup 2] [--only vmae|dit] [--json PATH]
 *
 * Each entry of --threads is a count T (setupBackend's `threads`, XNNPACK's pool at its default) or T/X
 * (`threads` T, `xnnpackThreads` X).
 *
 * The thread count of the wasm backend is fixed when it starts, so every (workload, threads) pair runs
 * in a fresh child process (this script with --child); the counts alternate within a round and the
 * order flips between rounds, so a change in the machine's load hits every count alike. Each child
 * prints the median and best ms per step after the warm-up steps, the process CPU time per step (all
 * threads), and the 1-minute load average when it started; the summary takes the median of the rounds'
 * medians. Build first (`npm run build`): the script imports the built packages.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { backendThreads, backendXnnpackThreads, createRng, setupBackend } from '@ldmae/core';
import { createVMAE, trainVMAE } from '../../packages/vmae/src/index.js';
import { opt } from './args.js';
import { ditTraining } from './dit-train.js';
import { Report, threads as threadText } from './report.js';

const args = process.argv.slice(2);
const WARMUP = Number(opt('--warmup', '2'));
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

type Workload = 'vmae' | 'dit';

interface ChildResult {
  workload: Workload;
  threads: number;
  xnnpack: number;
  msPerStep: number;
  bestMs: number;
  cpuMsPerStep: number;
  load: number;
  finalLoss: number;
  /** The --threads entry that asked for it (parent only). */
  setting?: string;
}

/** Time `steps` calls of `step` after the warm-up; wall and process CPU time per step. */
async function timeSteps(step: () => Promise<number> | number, steps: number) {
  let loss = 0;
  for (let i = 0; i < WARMUP; i++) loss = await step();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = cpuNow();
    loss = await step();
    wall.push(performance.now() - t0);
    cpu.push(cpuNow() - c0);
  }
  return { msPerStep: median(wall), bestMs: Math.min(...wall), cpuMsPerStep: median(cpu), finalLoss: loss };
}

async function vmae(steps: number) {
  const model = createVMAE('f4d4-tiny', { imgSize: 28 }, { rng: createRng(0) });
  const x = createRng(1).uniform([32, 28, 28, 3], -1, 1);
  // trainVMAE runs its own loop: time it through its progress events, one step per event.
  const stamps: number[] = [];
  const cpuStamps: number[] = [];
  let loss = 0;
  const start = performance.now();
  const cpuStart = cpuNow();
  await trainVMAE({
    model,
    data: () => x.clone(),
    steps: WARMUP + steps,
    batchSize: 32,
    lr: 1e-4,
    seed: 0,
    onProgress: (p) => {
      stamps.push(performance.now());
      cpuStamps.push(cpuNow());
      loss = p.loss;
    },
  });
  const wall = stamps.map((t, i) => t - (i === 0 ? start : stamps[i - 1])).slice(WARMUP);
  const cpu = cpuStamps.map((t, i) => t - (i === 0 ? cpuStart : cpuStamps[i - 1])).slice(WARMUP);
  x.dispose();
  model.dispose();
  return { msPerStep: median(wall), bestMs: Math.min(...wall), cpuMsPerStep: median(cpu), finalLoss: loss };
}

async function dit(steps: number) {
  const t = ditTraining({ preset: 'LightningDiT-Ti/1', size: 8, channels: 4, classes: 10, batch: 16 });
  const r = await timeSteps(t.step, steps);
  t.dispose();
  return r;
}

async function child(): Promise<void> {
  const workload = opt('--child', 'vmae') as Workload;
  const [threads, xnnpackThreads] = parseSetting(opt('--threads', '1'));
  const load = loadavg()[0];
  await setupBackend({ backend: 'wasm', threads, xnnpackThreads });
  const r =
    workload === 'vmae'
      ? await vmae(Number(opt('--vmae-steps', '12')))
      : await dit(Number(opt('--dit-steps', '8')));
  const out: ChildResult = {
    workload,
    threads: backendThreads() ?? -1,
    xnnpack: backendXnnpackThreads() ?? -1,
    load,
    ...r,
  };
  console.log(JSON.stringify(out));
}

/** `T` or `T/X` as [threads, xnnpackThreads (undefined: the default)]. */
function parseSetting(setting: string): [number, number | undefined] {
  const [t, x] = setting.split('/').map(Number);
  if (!(t >= 1) || (x !== undefined && !(x >= 1))) throw new Error(`--threads: bad entry '${setting}'`);
  return [t, x];
}

/** How a child's counts read in the tables: '2 threads' or '2 threads, XNNPACK 1'. */
const settingText = (r: ChildResult) =>
  r.xnnpack === r.threads ? threadText(r.threads) : `${threadText(r.threads)}, XNNPACK ${r.xnnpack}`;

function runChild(workload: Workload, threads: string): ChildResult {
  const r = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      // The parent's own --threads list is not the child's count.
      ...args.filter((a, i) => a !== '--threads' && args[i - 1] !== '--threads'),
      '--child',
      workload,
      '--threads',
      threads,
    ],
    { encoding: 'utf8' },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`bench child ${workload} x${threads} failed:\n${r.stderr}`);
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  return JSON.parse(line) as ChildResult;
}

async function parent(): Promise<void> {
  const counts = opt('--threads', '1,2/1,2/2').split(',');
  const rounds = Number(opt('--rounds', '2'));
  const only = opt('--only', '');
  const workloads: Workload[] = only ? [only as Workload] : ['vmae', 'dit'];
  console.log(
    `wasm threads: ${cpus()[0]?.model?.trim()}, ${availableParallelism()} CPUs, Node ${process.version}, ` +
      `load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const results: ChildResult[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? counts : [...counts].reverse();
    for (const w of workloads) {
      for (const n of order) {
        const r = runChild(w, n);
        const [t, x] = parseSetting(n);
        if (r.threads !== t || (x !== undefined && r.xnnpack !== x))
          throw new Error(`asked for threads ${n}, the backend runs ${r.threads}/${r.xnnpack}`);
        results.push({ ...r, setting: n });
        console.log(
          `  round ${round + 1} ${w.padEnd(4)} ${settingText(r)}: ${r.msPerStep.toFixed(0)} ms/step ` +
            `(best ${r.bestMs.toFixed(0)}, cpu ${r.cpuMsPerStep.toFixed(0)} ms), load ${r.load.toFixed(2)}, ` +
            `loss ${r.finalLoss.toFixed(5)}`,
        );
      }
    }
  }
  console.log('');
  console.log(
    '| workload | threads | ms / step (median of rounds) | best ms | cpu ms / step | speed-up vs first |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  const report = new Report('wasm threads in Node').note(
    `${rounds} rounds, each (workload, threads) in a fresh process, counts alternating; ms / step is the median of the rounds' medians`,
  );
  for (const w of workloads) {
    const of = (n: string) => results.filter((r) => r.workload === w && r.setting === n);
    const base = median(of(counts[0]).map((r) => r.msPerStep));
    const firstText = settingText(of(counts[0])[0]);
    for (const n of counts) {
      const rs = of(n);
      const text = settingText(rs[0]);
      const ms = median(rs.map((r) => r.msPerStep));
      console.log(
        `| ${w === 'vmae' ? 'VMAE f4d4-tiny, 28 px, batch 32' : 'LightningDiT-Ti/1, 8x8x4, batch 16'} | ${text} | ` +
          `${ms.toFixed(0)} | ${Math.min(...rs.map((r) => r.bestMs)).toFixed(0)} | ` +
          `${median(rs.map((r) => r.cpuMsPerStep)).toFixed(0)} | ${(base / ms).toFixed(2)}x |`,
      );
      const name = `${w === 'vmae' ? 'VMAE f4d4-tiny' : 'LightningDiT-Ti/1'}, ${text}`;
      report
        .row(`${name}: ms / step`, ms, 'ms')
        .row(`${name}: CPU ms / step`, median(rs.map((r) => r.cpuMsPerStep)), 'ms');
      if (n !== counts[0]) report.ratio(`${name} / ${firstText}: steps / s`, base / ms, `wasm, ${firstText}`);
    }
  }
  report.write(args);
  console.log(`load average at the end: ${loadavg()[0].toFixed(2)}`);
}

if (args.includes('--child')) await child();
else await parent();
