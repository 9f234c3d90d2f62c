/**
 * The statistics behind FID and precision / recall, the previous plain-JavaScript implementation
 * (frozen in tools/bench/reference/) against the current package, in one process, at the sizes of a
 * 10k-sample evaluation of 2048-d Inception features:
 *
 * - `frechetDistance` of the Gaussians of two 10k x 2048 feature sets (full-rank covariances), and of two
 *   rank-deficient ones (--low-n samples each, fewer than the dimension);
 * - improved precision / recall (k = 3) at 10k x 10k: the current default kernel (float64 results) against
 *   `tfDistanceBlock` (float32 tf.matMul on wasm, what the evaluation used so far) at the same size, and
 *   against the previous float64 JavaScript kernel at --old-n x --old-n (its results must be identical;
 *   its time is extrapolated by (n / old-n)^2).
 *
 *   npm run build    # once: the benchmark imports the built @ldmae/metrics and @ldmae/core
 *   npx tsx tools/bench/stats.ts [--n 10000] [--dim 2048] [--old-n 2000] [--low-n 1000] [--threads N]
 *                                [--frechet-only] [--pr-only] [--no-tf] [--repeat 1] [--json PATH]
 *
 * Prints the machine, its cores and load average, each time (wall and process CPU), the ratio old / new,
 * the accuracy of the new results against the old, and the peak resident memory of each step (Linux).
 * --json PATH also writes the results as JSON (see report.ts; with --repeat, the first repetition).
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { setupBackend } from '@ldmae/core';
import {
  featureStats,
  frechetDistance,
  manifoldRadii,
  precisionRecall,
  setStatsThreads,
  tfDistanceBlock,
} from '@ldmae/metrics';
import { processCpu } from './process-cpu.js';
import { frechetDistance as oldFrechet } from './reference/frechet.js';
import {
  precisionRecall as oldPrecisionRecall,
  manifoldRadii as oldRadii,
} from './reference/precision-recall.js';
import { Report } from './report.js';
import { syntheticFeatures } from './synthetic-features.js';

const args = process.argv.slice(2);
const num = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = num('--n', 10000);
const DIM = num('--dim', 2048);
const OLD_N = Math.min(num('--old-n', 2000), N);
const LOW_N = num('--low-n', 1000);
const REPEAT = num('--repeat', 1);
const THREADS = num('--threads', 0);
const FRECHET = !args.includes('--pr-only');
const PR = !args.includes('--frechet-only');
const TF = !args.includes('--no-tf');

function moments(x: Float32Array, n: number): { mu: Float64Array; sigma: Float64Array } {
  const s = featureStats(DIM);
  for (let r = 0; r < n; r += 1000) s.add(x.subarray(r * DIM, Math.min(n, r + 1000) * DIM));
  return { mu: s.mean(), sigma: s.covariance() };
}

/** Resets the kernel's peak-RSS mark (Linux); returns whether it can be read back. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function peakMiB(): string {
  if (!existsSync('/proc/self/status')) return 'n/a';
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? `${(Number(m[1]) / 1024).toFixed(0)} MiB` : 'n/a';
}

interface Timing {
  wall: number;
  cpu: number;
  peak: string;
  /** Resident memory when the step started. */
  before: string;
}

function time<T>(f: () => T): { value: T; t: Timing } {
  const before = `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;
  resetPeak();
  const c0 = processCpu();
  const t0 = performance.now();
  const value = f();
  const wall = (performance.now() - t0) / 1000;
  return { value, t: { wall, cpu: processCpu() - c0, peak: peakMiB(), before } };
}

const fmt = (t: Timing) =>
  `${t.wall.toFixed(2)} s (CPU ${t.cpu.toFixed(2)} s, peak RSS ${t.peak} from ${t.before} at the start)`;
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

const OLD = 'previous plain-JavaScript kernels, same process';

async function main(): Promise<void> {
  await setupBackend({ backend: 'wasm' });
  if (THREADS > 0) setStatsThreads(THREADS);
  const report = new Report('FID and precision / recall statistics');
  report.note(
    `synthetic Inception-like features, ${DIM}-d; stats threads ${THREADS > 0 ? THREADS : `default (${availableParallelism()} cores)`}; ` +
      'wall times, process CPU time in the printed log',
  );
  console.log(
    `machine: ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `Node ${process.version}; stats threads ${THREADS > 0 ? THREADS : `default (${availableParallelism()})`}`,
  );
  console.log(`n = ${N}, dim = ${DIM}; load average (1, 5, 15 min) at start: ${load()}`);
  const a = syntheticFeatures(N, DIM, 1, 0);
  const b = syntheticFeatures(N, DIM, 2, 0.3);

  if (FRECHET) {
    const st = time(() => [moments(a, N), moments(b, N)]);
    console.log(`featureStats of two ${N} x ${DIM} sets + mean / covariance: ${fmt(st.t)}`);
    report.row(`featureStats of two ${N} x ${DIM} sets + mean / covariance`, st.t.wall, 's');
    const [ma, mb] = st.value;
    const low = [moments(a, LOW_N), moments(b.subarray(DIM * (N - LOW_N)), LOW_N)];
    const cases = [
      [`from ${N} samples each (full rank)`, ma, mb, `full rank, ${N} samples each`],
      [
        `from ${LOW_N} samples each (rank ${LOW_N - 1} < ${DIM})`,
        low[0],
        low[1],
        `rank ${LOW_N - 1}, ${LOW_N} samples each`,
      ],
    ] as const;
    for (const [label, x, y, short] of cases) {
      for (let rep = 0; rep < REPEAT; rep++) {
        const oldR = time(() => oldFrechet(x.mu, x.sigma, y.mu, y.sigma));
        const newR = time(() => frechetDistance(x.mu, x.sigma, y.mu, y.sigma));
        const rel = Math.abs(newR.value - oldR.value) / Math.abs(oldR.value);
        console.log(
          `frechetDistance at ${DIM}-d, ${label}: old ${fmt(oldR.t)}, new ${fmt(newR.t)}; ` +
            `old / new ${(oldR.t.wall / newR.t.wall).toFixed(1)}x; value ${newR.value.toFixed(6)} ` +
            `(relative difference to old ${rel.toExponential(1)}); load ${load()}`,
        );
        if (rep === 0) {
          report
            .row(`frechetDistance ${DIM}-d, ${short}: previous`, oldR.t.wall, 's')
            .row(`frechetDistance ${DIM}-d, ${short}: current`, newR.t.wall, 's')
            .ratio(
              `frechetDistance ${DIM}-d, ${short}: current / previous speed`,
              oldR.t.wall / newR.t.wall,
              OLD,
            )
            .note(
              `frechetDistance ${DIM}-d, ${short}: relative difference to the previous value ${rel.toExponential(1)}`,
            );
        }
      }
    }
  }

  if (PR) {
    const subA = a.subarray(0, OLD_N * DIM);
    const subB = b.subarray(0, OLD_N * DIM);
    const oldR = time(() => oldPrecisionRecall(subA, subB, DIM));
    const newSmall = time(() => precisionRecall(subA, subB, DIM));
    const radiiSame =
      Array.from(manifoldRadii(subA, DIM)).join() === Array.from(oldRadii(subA, DIM)).join()
        ? 'identical'
        : 'DIFFER';
    const same =
      oldR.value.precision === newSmall.value.precision && oldR.value.recall === newSmall.value.recall;
    console.log(
      `precisionRecall ${OLD_N} x ${OLD_N}: old (float64 JavaScript) ${fmt(oldR.t)}, new ${fmt(newSmall.t)}; ` +
        `old / new ${(oldR.t.wall / newSmall.t.wall).toFixed(1)}x; P ${newSmall.value.precision}, R ` +
        `${newSmall.value.recall} (${same ? 'identical to old' : `OLD: ${JSON.stringify(oldR.value)}`}); ` +
        `radii ${radiiSame}; load ${load()}`,
    );
    report
      .row(`precisionRecall ${OLD_N} x ${OLD_N} (k = 3): previous`, oldR.t.wall, 's')
      .row(`precisionRecall ${OLD_N} x ${OLD_N} (k = 3): current`, newSmall.t.wall, 's')
      .ratio(
        `precisionRecall ${OLD_N} x ${OLD_N}: current / previous speed`,
        oldR.t.wall / newSmall.t.wall,
        OLD,
      )
      .note(
        `precisionRecall ${OLD_N} x ${OLD_N}: P and R ${same ? 'identical to' : 'DIFFER from'} the previous kernel's, radii ${radiiSame}`,
      );
    for (let rep = 0; rep < REPEAT; rep++) {
      const newR = time(() => precisionRecall(a, b, DIM));
      const extrapolated = oldR.t.wall * (N / OLD_N) ** 2;
      console.log(
        `precisionRecall ${N} x ${N}: new ${fmt(newR.t)} (P ${newR.value.precision}, R ${newR.value.recall}); ` +
          `old float64 JavaScript extrapolated ~${extrapolated.toFixed(0)} s, old / new ` +
          `~${(extrapolated / newR.t.wall).toFixed(0)}x; load ${load()}`,
      );
      if (rep === 0 && N !== OLD_N)
        report.row(`precisionRecall ${N} x ${N} (k = 3): current`, newR.t.wall, 's');
      if (TF && rep === 0) {
        const tfR = time(() => precisionRecall(a, b, DIM, { distanceBlock: tfDistanceBlock() }));
        console.log(
          `precisionRecall ${N} x ${N} with tfDistanceBlock (float32 tf.matMul, wasm): ${fmt(tfR.t)} ` +
            `(P ${tfR.value.precision}, R ${tfR.value.recall}); tfDistanceBlock / new ` +
            `${(tfR.t.wall / newR.t.wall).toFixed(1)}x; load ${load()}`,
        );
        report
          .row(`precisionRecall ${N} x ${N} (k = 3): tfDistanceBlock`, tfR.t.wall, 's')
          .ratio(
            `precisionRecall ${N} x ${N}: current / tfDistanceBlock speed`,
            tfR.t.wall / newR.t.wall,
            'tfDistanceBlock (float32 tf.matMul on wasm), same process',
          );
      }
    }
  }
  console.log(`load average at end: ${load()}`);
  report.write(args);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
