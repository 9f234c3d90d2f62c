/**
 * Precision / recall as `evaluateGeneration` computes it (k = 3, blocks of 1024), with the package's
 * default kernel and with `tfDistanceBlock` (float32 tf.matMul on wasm, the evaluation's default
 * before), alternated in one process so that a change in the machine's load hits both alike.
 *
 *   npm run build    # once: imports the built @ldmae/metrics and @ldmae/core
 *   npx tsx tools/bench/pr-kernels.ts [--n 2000] [--dim 2048] [--rounds 3] [--json PATH]
 *
 * Prints each run's wall and process CPU time (worker threads included), P and R, and the medians with
 * their ratios.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setupBackend } from '@ldmae/core';
import { type DistanceBlockFn, precisionRecall, tfDistanceBlock } from '@ldmae/metrics';
import { processCpu } from './process-cpu.js';
import { Report } from './report.js';
import { syntheticFeatures } from './synthetic-features.js';

const args = process.argv.slice(2);
const num = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = num('--n', 2000);
const DIM = num('--dim', 2048);
const ROUNDS = num('--rounds', 3);

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  await setupBackend({ backend: 'wasm' });
  console.log(
    `${cpus()[0]?.model ?? '?'}, ${availableParallelism()} cores; n = ${N} per side, dim = ${DIM}, ${ROUNDS} rounds; ` +
      `load average ${loadavg()[0].toFixed(2)}`,
  );
  const real = syntheticFeatures(N, DIM, 1, 0);
  const fake = syntheticFeatures(N, DIM, 2, 0.3);
  const kernels: [string, () => DistanceBlockFn | undefined][] = [
    ['default kernel', () => undefined],
    ['tfDistanceBlock', () => tfDistanceBlock()],
  ];
  const wall = new Map<string, number[]>(kernels.map(([k]) => [k, []]));
  const cpuTimes = new Map<string, number[]>(kernels.map(([k]) => [k, []]));
  const results = new Map<string, string>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? kernels : [...kernels].reverse();
    for (const [name, make] of order) {
      const c0 = processCpu();
      const t0 = performance.now();
      const r = precisionRecall(real, fake, DIM, { k: 3, blockSize: 1024, distanceBlock: make() });
      const s = (performance.now() - t0) / 1000;
      const cpu = processCpu() - c0;
      wall.get(name)?.push(s);
      cpuTimes.get(name)?.push(cpu);
      results.set(name, `P ${r.precision}, R ${r.recall}`);
      console.log(
        `round ${round + 1} ${name.padEnd(16)} ${s.toFixed(2)} s (CPU ${cpu.toFixed(2)} s)  P ${r.precision} R ${r.recall}  load ${loadavg()[0].toFixed(2)}`,
      );
    }
  }
  const d = median(wall.get('default kernel') ?? []);
  const t = median(wall.get('tfDistanceBlock') ?? []);
  const dc = median(cpuTimes.get('default kernel') ?? []);
  const tc = median(cpuTimes.get('tfDistanceBlock') ?? []);
  console.log(
    `median: default kernel ${d.toFixed(2)} s (CPU ${dc.toFixed(2)} s), tfDistanceBlock ${t.toFixed(2)} s (CPU ${tc.toFixed(2)} s); ` +
      `tfDistanceBlock / default ${(t / d).toFixed(2)}x wall, ${(tc / dc).toFixed(2)}x CPU`,
  );
  new Report(`precision / recall ${N} x ${N}, ${DIM}-d`)
    .row('default kernel: s (median)', d, 's')
    .row('tfDistanceBlock: s (median)', t, 's')
    .row('default kernel: CPU s (median)', dc, 's')
    .row('tfDistanceBlock: CPU s (median)', tc, 's')
    .ratio(
      'default kernel / tfDistanceBlock speed',
      t / d,
      'tfDistanceBlock (float32 tf.matMul on wasm), same process',
    )
    .note(`${ROUNDS} rounds, alternated; default kernel ${results.get('default kernel')}`)
    .note(`tfDistanceBlock ${results.get('tfDistanceBlock')}`)
    .write(args);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
