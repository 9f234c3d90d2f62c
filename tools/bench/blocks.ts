/**
 * Forward + backward time of one ViT block (the configuration of shared/spec/environment.md) on the
 * wasm and cpu backends, with the custom-gradient Linear and with tfjs's own matMul gradient.
 *
 *   npx tsx tools/bench/blocks.ts [--iters N] [--no-cpu] [--no-plain] [--profile] [--json PATH]
 *
 * --json PATH also writes the results as JSON (see report.ts).
 */

import { Block, createRng, setMatMulGradMode, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { wasmThreadsNote } from './backend-note.js';
import { printProfile } from './profile.js';
import { Report } from './report.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const iters = Number(args[args.indexOf('--iters') + 1]) || 5;

const B = 32;
const N = 64;
const C = 192;
const HEADS = 3;
const HIDDEN = 4 * C;

/** Forward FLOPs, counting 2*M*N*K per matrix product and nothing else. */
function forwardFlops(): number {
  const m = B * N;
  const d = C / HEADS;
  const linears = 2 * m * C * 3 * C + 2 * m * C * C + 2 * m * C * HIDDEN + 2 * m * HIDDEN * C;
  const attention = 2 * (2 * B * HEADS * N * N * d);
  return linears + attention;
}
/** The backward pass does two products per forward product (input and weight gradients). */
const FLOPS = 3 * forwardFlops();

function makeStep(block: Block, x: tf.Tensor, r: tf.Tensor): () => void {
  return () => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(block.forward(x), r)) as tf.Scalar);
      // Reading values waits for the backend to finish.
      value.dataSync();
      for (const g of Object.values(grads)) g.dataSync();
    });
  };
}

function timeMs(step: () => void, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    step();
    out.push(performance.now() - t0);
  }
  return out;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

interface Result {
  label: string;
  /** Median and best step time. */
  ms: number;
  best: number;
  runs: number;
}

/** The wasm backend's threads, as it reported them ('' until wasm has run). */
let wasmThreads = '';

async function run(backend: 'wasm' | 'cpu', mode: 'explicit-transpose' | 'tfjs', warmup: number, n: number) {
  await setupBackend({ backend });
  if (backend === 'wasm') wasmThreads = wasmThreadsNote();
  setMatMulGradMode(mode);
  const block = new Block(C, HEADS, { rng: createRng(0) });
  const data = createRng(1);
  const x = data.normal([B, N, C]);
  const r = data.normal([B, N, C]);
  const step = makeStep(block, x, r);
  timeMs(step, warmup);
  const before = tf.memory().numTensors;
  const times = timeMs(step, n);
  if (tf.memory().numTensors !== before)
    throw new Error(`bench: ${tf.memory().numTensors - before} tensors leaked`);
  if (flag('--profile') && backend === 'wasm') await profile(step);
  tf.dispose([x, r]);
  block.dispose();
  setMatMulGradMode('explicit-transpose');
  return { ms: median(times), best: Math.min(...times) };
}

async function profile(step: () => void): Promise<void> {
  printProfile(await tf.profile(step), 'kernel time of one wasm step');
}

async function main(): Promise<void> {
  console.log(
    `ViT block fwd+bwd: batch ${B}, ${N} tokens, width ${C}, ${HEADS} heads, MLP ${HIDDEN} (exact GELU), LayerNorm eps 1e-6`,
  );
  console.log(
    `FLOPs per step: ${(FLOPS / 1e9).toFixed(2)} GFLOP (2*M*N*K per matmul; forward ${(forwardFlops() / 1e9).toFixed(3)}, backward = 2x forward)`,
  );
  const results: Result[] = [];
  const wasmRun = await run('wasm', 'explicit-transpose', 2, iters);
  results.push({ label: 'wasm, custom-gradient Linear', ...wasmRun, runs: iters });
  if (!flag('--no-plain')) {
    const plainRun = await run('wasm', 'tfjs', 1, 2);
    results.push({ label: 'wasm, plain tf.matMul gradient', ...plainRun, runs: 2 });
  }
  if (!flag('--no-cpu')) {
    const cpuRun = await run('cpu', 'explicit-transpose', 0, 1);
    results.push({ label: 'cpu, custom-gradient Linear', ...cpuRun, runs: 1 });
  }
  for (const r of results) {
    const gflops = FLOPS / (r.ms / 1000) / 1e9;
    console.log(
      `${r.label.padEnd(34)} ${r.ms.toFixed(0).padStart(7)} ms/step  ${gflops.toFixed(2).padStart(6)} GFLOP/s  (median of ${r.runs}; best ${r.best.toFixed(0)} ms)`,
    );
  }
  const wasm = results[0].ms;
  const plain = results.find((r) => r.label.includes('plain'));
  const cpu = results.find((r) => r.label.startsWith('cpu'));
  if (plain) console.log(`custom-gradient gain on wasm: ${(plain.ms / wasm).toFixed(1)}x`);
  if (cpu) console.log(`wasm vs cpu: ${(cpu.ms / wasm).toFixed(1)}x faster`);

  const report = new Report('ViT block forward + backward');
  report.note(
    `batch ${B}, ${N} tokens, width ${C}, ${HEADS} heads, MLP ${HIDDEN} (exact GELU); ${(FLOPS / 1e9).toFixed(2)} GFLOP per step (matrix products); ${wasmThreads}`,
  );
  for (const r of results) {
    report
      .row(`${r.label}: ms / step (median of ${r.runs})`, r.ms, 'ms')
      .row(`${r.label}: best ms / step`, r.best, 'ms')
      .row(`${r.label}: GFLOP/s`, FLOPS / (r.ms / 1000) / 1e9, 'GFLOP/s');
  }
  if (plain)
    report.ratio(
      'wasm, custom-gradient Linear / tfjs matMul gradient: steps / s',
      plain.ms / wasm,
      "wasm, tfjs's own matMul gradient (setMatMulGradMode('tfjs'))",
    );
  if (cpu)
    report.ratio(
      'wasm / cpu backend: steps / s',
      cpu.ms / wasm,
      'the pure-JavaScript cpu backend, same gradients',
    );
  report.write(args);
}

await main();
