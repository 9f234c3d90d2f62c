/**
 * Runs the speed benchmarks one after the other, each in a fresh process, and writes their results
 * (the machine, the versions, one table per benchmark, the targets met or not) into docs/benchmarks.md
 * between `<!-- bench:results:start -->` and `<!-- bench:results:end -->`.
 *
 *   npm run bench                                  # builds what the benchmarks import, then this script
 *   npx tsx tools/bench/run-all.ts [--quick] [--only vmae,dit,stats,blocks,kernels,lpips] [--out FILE]
 *                                  [--json FILE] [--no-install]
 *
 * --quick: few steps and small sizes, to check the runner (the section says it is a quick run);
 * --only: the named benchmarks (with --out only: docs/benchmarks.md keeps full runs); --out: another
 * markdown file (default docs/benchmarks.md); --json: also the collected reports as one JSON file; --no-install: never install PyTorch. Each benchmark script
 * prints its own table and writes a report with `--json PATH` (report.ts); `lpips.ts` runs when it is
 * there (with `--quick` in a quick run). Exits 1 when a benchmark failed (the section says which).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseReport, writeFileAtomic } from './report.js';
import { type BenchOutcome, renderResults, type Target, writeResultsSection } from './results-doc.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (!v || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
};
const QUICK = flag('--quick');
const OUT = opt('--out') ?? join(ROOT, 'docs', 'benchmarks.md');
const PYTHON = process.env.LDMAE_BENCH_PYTHON || '/usr/bin/python3';

interface Bench {
  id: string;
  /** What --only selects it by. */
  group: string;
  script: string;
  args: string[];
  quickArgs: string[];
}

/** A benchmark of tfjs-wasm against PyTorch, both at `threads` threads. */
function againstTorch(id: string, script: string, threads: number, args: string[], quick: string[]): Bench {
  const t = ['--no-cpu', '--threads', String(threads), '--torch-threads', String(threads)];
  return { id, group: id.split('-')[0], script, args: [...t, ...args], quickArgs: [...t, ...quick] };
}

const VMAE_QUICK = ['--steps', '2', '--warmup', '1'];
const DIT_QUICK = ['--iters', '2', '--sample-steps', '2', '--sample-batch', '2', '--rounds', '2'];

/** The benchmarks, in the order they run. wasm and PyTorch run with the same thread count. */
const BENCHES: Bench[] = [
  againstTorch('vmae-1t', 'vmae.ts', 1, ['--steps', '30'], VMAE_QUICK),
  againstTorch('vmae-2t', 'vmae.ts', 2, ['--steps', '30'], VMAE_QUICK),
  againstTorch('dit', 'dit.ts', 1, ['--iters', '6', '--rounds', '3'], DIT_QUICK),
  againstTorch('dit-2t', 'dit.ts', 2, ['--iters', '6', '--rounds', '3'], DIT_QUICK),
  {
    id: 'stats',
    group: 'stats',
    script: 'stats.ts',
    // frechetDistance at 2048-d from 10k samples (full rank) and 1000 (rank-deficient); P&R at 10k
    // (the previous kernel at 1k); tfDistanceBlock left out (minutes).
    args: ['--n', '10000', '--old-n', '1000', '--low-n', '1000', '--no-tf'],
    quickArgs: ['--n', '600', '--old-n', '300', '--low-n', '300', '--dim', '512', '--no-tf'],
  },
  {
    id: 'blocks',
    group: 'blocks',
    script: 'blocks.ts',
    args: ['--no-cpu', '--iters', '7'],
    quickArgs: ['--no-cpu', '--iters', '1'],
  },
  {
    id: 'kernels',
    group: 'kernels',
    script: 'kernels.ts',
    args: ['--rounds', '3', '--steps', '1'],
    quickArgs: ['--rounds', '1', '--steps', '1', '--only', 'vmae', '--kernels', 'Identity,LdmaeAdamW'],
  },
  { id: 'lpips', group: 'lpips', script: 'lpips.ts', args: [], quickArgs: ['--quick'] },
];

/** The goals the results are checked against (met / not met in the section). */
const TARGETS: Target[] = [
  {
    bench: 'vmae-1t',
    kind: 'ratio',
    label: /^tfjs wasm 1 thread \/ PyTorch 1 thread: images \/ s$/,
    op: '>=',
    value: 0.5,
    text: 'VMAE f4d4-tiny training, images/s against PyTorch (1 thread)',
  },
  {
    bench: 'dit',
    kind: 'ratio',
    label: /^tfjs wasm 1 thread \/ PyTorch 1 thread: training steps \/ s$/,
    op: '>=',
    value: 0.6,
    text: 'LightningDiT-Ti/1 training, steps/s against PyTorch (1 thread)',
  },
  {
    bench: 'dit',
    kind: 'ratio',
    label: /^tfjs wasm 1 thread \/ PyTorch 1 thread: sampling images \/ s$/,
    op: '>=',
    value: 0.6,
    text: 'LightningDiT-Ti/1 sampling, images/s against PyTorch (1 thread)',
  },
  {
    bench: 'stats',
    kind: 'row',
    label: /^frechetDistance 2048-d, full rank, .*: current$/,
    op: '<',
    value: 3,
    unit: 's',
    text: 'frechetDistance at 2048-d (full-rank covariances)',
  },
  {
    bench: 'lpips',
    kind: 'ratio',
    label: /^step with the perceptual term \(LPIPS\) \/ step without: steps \/ s$/,
    op: '>=',
    value: 0.5,
    text: 'VMAE step with the perceptual term at most 2x the step without (speed ratio)',
  },
];

function selected(): Bench[] {
  const only = opt('--only');
  if (!only) return BENCHES;
  const groups = only.split(',').map((s) => s.trim());
  const known = new Set(BENCHES.map((b) => b.group));
  const unknown = groups.filter((g) => !known.has(g));
  if (unknown.length)
    throw new Error(`--only: unknown benchmark ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  return BENCHES.filter((b) => groups.includes(b.group));
}

function packageVersion(name: string): string {
  const file = join(ROOT, 'node_modules', name, 'package.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')).version as string;
  } catch {
    return 'not installed';
  }
}

function torchVersion(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'not installed';
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: os.cpus() below
  }
  return cpus()[0]?.model.trim() || 'unknown CPU';
}

/** The command as the user typed it. */
function commandLine(): string {
  if (process.env.npm_lifecycle_event === 'bench')
    return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  return ['npx tsx tools/bench/run-all.ts', ...args].join(' ');
}

function runBench(b: Bench, dir: string): BenchOutcome {
  const script = join(HERE, b.script);
  const benchArgs = [...(QUICK ? b.quickArgs : b.args), ...(flag('--no-install') ? ['--no-install'] : [])];
  const command = ['npx tsx', relative(ROOT, script), ...benchArgs].join(' ');
  if (!existsSync(script))
    return { id: b.id, command, seconds: 0, skipped: `${relative(ROOT, script)} is not in this tree` };
  const json = join(dir, `${b.id}.json`);
  console.log(`\n=== ${b.id}: ${command}  (load average ${loadavg()[0].toFixed(2)})\n`);
  const t0 = performance.now();
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const r = spawnSync(tsx, [script, ...benchArgs, '--json', json], {
    cwd: ROOT,
    stdio: 'inherit',
    timeout: (QUICK ? 5 : 20) * 60_000,
    killSignal: 'SIGKILL',
  });
  const seconds = (performance.now() - t0) / 1000;
  const outcome: BenchOutcome = { id: b.id, command, seconds };
  if (r.error || r.status !== 0) {
    const why = r.error
      ? r.error.message
      : r.signal
        ? `killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (time limit)' : ''}`
        : `exit code ${r.status}`;
    outcome.failed = `${why}; see the benchmark's output`;
  }
  if (existsSync(json)) {
    try {
      outcome.report = parseReport(JSON.parse(readFileSync(json, 'utf8')), json);
    } catch (e) {
      outcome.failed = `${outcome.failed ? `${outcome.failed}; ` : ''}${(e as Error).message}`;
    }
  } else if (!outcome.failed) outcome.failed = `wrote no report to --json`;
  return outcome;
}

function main(): number {
  const benches = selected();
  // A partial run would replace the full results in docs/benchmarks.md with a few tables.
  if (opt('--only') && !opt('--out')) {
    throw new Error(
      '--only writes a partial results section: pass --out FILE (docs/benchmarks.md keeps full runs)',
    );
  }
  if (!existsSync(OUT)) throw new Error(`${OUT}: no such file`);
  const date = new Date().toISOString();
  const loadStart = loadavg()[0];
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'ldmae-bench-'));
  const outcomes: BenchOutcome[] = [];
  try {
    for (const b of benches) outcomes.push(runBench(b, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const info = {
    date,
    quick: QUICK,
    command: commandLine(),
    cpu: cpuModel(),
    cores: availableParallelism(),
    memGiB: totalmem() / 2 ** 30,
    loadStart,
    loadEnd: loadavg()[0],
    node: process.version,
    tfjsCore: packageVersion('@tensorflow/tfjs-core'),
    tfjsWasm: packageVersion('@tensorflow/tfjs-backend-wasm'),
    torch: torchVersion(),
    seconds: (performance.now() - t0) / 1000,
  };
  const section = renderResults(info, outcomes, TARGETS);
  writeResultsSection(OUT, section);
  const json = opt('--json');
  if (json) {
    writeFileAtomic(json, `${JSON.stringify({ ...info, outcomes }, null, 2)}\n`);
  }
  console.log(`\n${section}\n`);
  console.log(`wrote the results section of ${OUT}`);
  const failed = outcomes.filter((o) => o.failed);
  if (failed.length) console.error(`failed: ${failed.map((o) => o.id).join(', ')}`);
  return failed.length ? 1 : 0;
}

process.exitCode = main();
