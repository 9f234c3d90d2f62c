/**
 * Soak test of crash-safe checkpoints: `ldmae train-ae` saving a checkpoint after every step (of 400) is killed
 * with SIGKILL at random moments, again and again, each time continued with `--resume`. After every
 * kill the checkpoint folder must load (CRC-checked), hold a step no earlier than before the kill, and
 * the resumed run must start; at the end the training log must hold every step once.
 *
 *   npm run build                                   # once: the soak runs the built `ldmae` bin
 *   npx tsx tools/bench/checkpoint-soak.ts [--kills 30] [--min-ms 300] [--max-ms 4000] [--seed 1]
 *                                          [--json PATH]   (also write the results as JSON, see report.ts)
 *
 * Prints one line per kill and a summary: kills, checkpoints lost (a folder that did not load, or a
 * step that went back), and the exit code is 1 when anything was lost. Not a unit test: it takes a
 * few minutes and its kill points are random (seeded).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, loadCheckpointHost } from '@ldmae/core';
import { Report } from './report.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const KILLS = arg('kills', 30);
const MIN_MS = arg('min-ms', 300);
const MAX_MS = arg('max-ms', 4000);
const rng = createRng(arg('seed', 1));
const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'ldmae.js');
const dir = mkdtempSync(join(tmpdir(), 'ldmae-soak-'));
const out = join(dir, 'run');
const ckpt = join(out, 'checkpoint');
const args = ['train-ae', '--steps', '400', '--batch-size', '8', '--checkpoint-every', '1', '--out', out];

/** Start a run; resolves once it has logged a training step (so a kill lands inside the loop). */
function start(resume: boolean): Promise<ReturnType<typeof spawn>> {
  const child = spawn(process.execPath, [BIN, ...args, '--json', ...(resume ? ['--resume'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const keep = (d: Buffer) => {
    stderr += d;
  };
  child.stderr?.on('data', keep);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d) => {
      buf += d;
      if (buf.includes('"event":"error"')) stderr += buf;
      if (buf.includes('"event":"progress"')) {
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve(child);
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`ldmae exited (${code}) before training: ${stderr.slice(-300)}`)),
    );
  });
}

async function checkpointStep(): Promise<number | null> {
  if (!readdirSync(out).includes('checkpoint')) return null;
  const { metadata } = await loadCheckpointHost(ckpt);
  return Number(metadata.step);
}

let lost = 0;
let last = -1;
let lastLost = false;
const t0 = performance.now();
for (let k = 1; k <= KILLS; k++) {
  let child: Awaited<ReturnType<typeof start>>;
  try {
    child = await start(k > 1);
  } catch (e) {
    // The checkpoint the last kill left did not resume: lost (unless its check already said so).
    if (!lastLost) lost++;
    console.log(
      `kill ${String(k).padStart(2)}: LOST: --resume failed: ${(e as Error).message.split('\n')[0]}`,
    );
    rmSync(ckpt, { recursive: true, force: true });
    last = -1;
    lastLost = false;
    continue;
  }
  const wait = MIN_MS + rng.nextFloat() * (MAX_MS - MIN_MS);
  await new Promise((r) => setTimeout(r, wait));
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  let step: number | null = null;
  let problem = '';
  try {
    step = await checkpointStep();
    if (step === null && last >= 0) problem = 'the checkpoint folder is gone';
    else if (step !== null && step < last) problem = `step went back from ${last} to ${step}`;
  } catch (e) {
    problem = `does not load: ${(e as Error).message}`;
  }
  const leftovers = (existsSync(ckpt) ? readdirSync(ckpt) : []).filter(
    (f) => f !== 'meta.json' && !/^model-\d+\.safetensors$/.test(f),
  );
  lastLost = problem !== '';
  if (problem) lost++;
  else if (step !== null) last = step;
  console.log(
    `kill ${String(k).padStart(2)} after ${Math.round(wait)} ms: checkpoint at step ${step ?? '-'}` +
      `${leftovers.length ? ` (left for the next save to remove: ${leftovers.join(', ')})` : ''}${problem ? `  LOST: ${problem}` : ''}`,
  );
}

// The log of the resumed runs: every step once, in order.
const steps = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('{') && l.endsWith('}'))
  .map((l) => JSON.parse(l).step as number)
  .filter((s) => typeof s === 'number');
let repeated = 0;
for (let i = 1; i < steps.length; i++) if (steps[i] <= steps[i - 1]) repeated++;
console.log(
  `\n${KILLS} kills in ${((performance.now() - t0) / 1000).toFixed(0)} s: checkpoints lost ${lost}; ` +
    `last checkpoint at step ${last}; log lines ${steps.length}, out of order or repeated ${repeated}`,
);
new Report('checkpoint soak')
  .row('kills', KILLS, 'kills')
  .row('checkpoints lost', lost, 'checkpoints')
  .row('log lines out of order or repeated', repeated, 'lines')
  .row('duration', (performance.now() - t0) / 1000, 's')
  .note(
    `SIGKILL ${MIN_MS}-${MAX_MS} ms after the first step, seed ${arg('seed', 1)}; last checkpoint at step ${last}`,
  )
  .write(process.argv.slice(2));
rmSync(dir, { recursive: true, force: true });
process.exit(lost > 0 || repeated > 0 ? 1 : 0);
