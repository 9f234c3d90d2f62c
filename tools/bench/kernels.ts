/**
 * What each of our wasm kernels gains over the tfjs-backend-wasm kernel it replaces, inside real
 * training steps: the VMAE `f4d4-tiny` step of tools/bench/vmae.ts (28 px, batch 32, stage 1) and the
 * LightningDiT-Ti/1 step of tools/bench/dit.ts (8 x 8 x 4 latents, batch 16).
 *
 *   npx tsx tools/bench/kernels.ts [--kernels Identity,BatchMatMul] [--rounds 6] [--steps 2]
 *                                  [--only vmae|dit] [--json PATH]
 *
 * For each kernel the step calls, one process runs the step with the baseline and with ours
 * alternately (`--rounds` rounds of `--steps` steps each, after one untimed step per switch), every
 * other kernel being ours, so a change in the machine's load hits both alike. The baseline is tfjs's
 * kernel for those ours replace, and the tensor ops the callers run otherwise for our one-pass kernels
 * (LdmaeGelu with LdmaeGeluGrad, LdmaeNorm with LdmaeNormGrad, LdmaeAdamW). It prints the median ms per step of each and the ratio
 * baseline / ours (above 1: ours is faster). Kernels that tfjs-backend-wasm lacks (Conv2DBackpropFilter
 * and the like) have no baseline and are left out. Build first (`npm run build`): the script imports
 * the built packages.
 */
import { loadavg } from 'node:os';
import '@tensorflow/tfjs-backend-wasm';
import { AdamW, createRng, setupBackend, WASM_KERNELS } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { createVMAE } from '../../packages/vmae/src/index.js';
import { opt } from './args.js';
import { ditTraining } from './dit-train.js';
import { Report } from './report.js';

const ROUNDS = Number(opt('--rounds', '6'));
const STEPS = Number(opt('--steps', '2'));
const ONLY = opt('--only', '');

// tfjs-backend-wasm registers its kernels when imported; setupBackend then replaces some of them.
const tfjsKernels = new Map(WASM_KERNELS.map((name) => [name, tf.getKernel(name, 'wasm')]));
await setupBackend({ backend: 'wasm', threads: 1 });
/** Kernels switched along with the one compared (each is the other's gradient). */
const PARTNERS: Record<string, string[]> = { LdmaeSplitHeads: ['LdmaeMergeHeads'] };

// The kernels tfjs has that ours replace, and our own one-pass kernels (named Ldmae*), whose callers
// run tensor ops without them. Kernels tfjs lacks (Conv2DBackpropFilter, ...) have no baseline.
const compared = opt('--kernels', '')
  ? opt('--kernels', '').split(',')
  : WASM_KERNELS.filter(
      (name) =>
        (tfjsKernels.get(name) || (name.startsWith('Ldmae') && !name.endsWith('Grad'))) &&
        !Object.values(PARTNERS).flat().includes(name),
    );

const baselineName = (kernel: string) =>
  tfjsKernels.get(kernel) ? `tfjs-backend-wasm's ${kernel}` : `tensor ops instead of ${kernel}`;

/** Our kernel `name`, or tfjs's (for our own kernels, none: the callers then run their tensor ops). */
function use(name: string, config: tf.KernelConfig | undefined): void {
  if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  if (config) tf.registerKernel(config);
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A workload: one training step (returns the loss) and its disposal. */
interface Workload {
  name: string;
  step: () => number;
  dispose: () => void;
}

function vmaeWorkload(): Workload {
  const model = createVMAE('f4d4-tiny', { imgSize: 28 }, { rng: createRng(0) });
  const optimizer = AdamW.forModule(model, { lr: 1e-4 });
  const x = createRng(1).uniform([32, 28, 28, 3], -1, 1);
  const rng = createRng(2);
  const named = new Map(model.namedParameters().map(([n, v]) => [v.name, n]));
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => model.forward(x, { rng }).loss as tf.Scalar);
      const byName: Record<string, tf.Tensor> = {};
      for (const [k, g] of Object.entries(grads)) byName[named.get(k) as string] = g;
      optimizer.step(byName);
      return value.dataSync()[0];
    });
  const dispose = () => {
    x.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { name: 'VMAE f4d4-tiny, 28 px, batch 32', step, dispose };
}

function ditWorkload(): Workload {
  const run = ditTraining({ preset: 'LightningDiT-Ti/1', size: 8, channels: 4, classes: 10, batch: 16 });
  return { name: 'LightningDiT-Ti/1, 8 x 8 x 4, batch 16', step: run.step, dispose: run.dispose };
}

interface Row {
  workload: string;
  kernel: string;
  tfjsMs: number;
  oursMs: number;
  ratio: number;
  /** Why the step failed with tfjs's kernel, if it did. */
  failed?: string;
}

/** Median ms per step with tfjs's `kernel` and with ours, alternating. */
function compare(w: Workload, kernel: string): Row {
  // Kernels that only work together are switched together: ours go with their gradient kernel
  // (LdmaeGelu, LdmaeGeluGrad; LdmaeNorm, LdmaeNormGrad), and the head split with the head merge.
  const names = [kernel, ...(PARTNERS[kernel] ?? []), `${kernel}Grad`].filter(
    (n, i) => i === 0 || WASM_KERNELS.includes(n),
  );
  const theirs = names.map((n) => tfjsKernels.get(n));
  const ours = names.map((n) => tf.getKernel(n, 'wasm') as tf.KernelConfig);
  const select = (which: 'tfjs' | 'ours') => {
    for (const [i, n] of names.entries()) use(n, which === 'tfjs' ? theirs[i] : ours[i]);
  };
  const times = { tfjs: [] as number[], ours: [] as number[] };
  try {
    select('tfjs');
    w.step();
    for (let r = 0; r < ROUNDS; r++) {
      // The order flips every round.
      const order = r % 2 ? (['ours', 'tfjs'] as const) : (['tfjs', 'ours'] as const);
      for (const which of order) {
        select(which);
        w.step();
        for (let i = 0; i < STEPS; i++) {
          const t0 = performance.now();
          w.step();
          times[which].push(performance.now() - t0);
        }
      }
    }
  } catch (e) {
    const nan = Number.NaN;
    return { workload: w.name, kernel, tfjsMs: nan, oursMs: nan, ratio: nan, failed: String(e) };
  } finally {
    select('ours');
  }
  const tfjsMs = median(times.tfjs);
  const oursMs = median(times.ours);
  return { workload: w.name, kernel, tfjsMs, oursMs, ratio: tfjsMs / oursMs };
}

const load0 = loadavg()[0];
console.log(
  `our wasm kernels against tfjs-backend-wasm's, inside training steps (median of ${ROUNDS} x ${STEPS} steps each, alternating); load average ${load0.toFixed(1)}`,
);
console.log('| workload | kernel | baseline ms / step | ours ms / step | baseline / ours |');
console.log('| --- | --- | --- | --- | --- |');
const rows: Row[] = [];
for (const make of [vmaeWorkload, ditWorkload]) {
  if (ONLY && !make.name.startsWith(ONLY)) continue;
  const w = make();
  const tensors = tf.memory().numTensors;
  // Only the kernels the step calls.
  const called = new Set((await tf.profile(() => w.step())).kernelNames);
  for (const kernel of compared.filter((k) => called.has(k))) {
    const row = compare(w, kernel);
    rows.push(row);
    console.log(
      row.failed
        ? `| ${row.workload} | ${kernel} | fails: ${row.failed.split('\n')[0].slice(0, 80)} | | |`
        : `| ${row.workload} | ${kernel} | ${row.tfjsMs.toFixed(1)} | ${row.oursMs.toFixed(1)} | ${row.ratio.toFixed(2)}x |`,
    );
  }
  // A step that threw part-way may leave tensors behind; a clean run must not.
  const failed = rows.some((r) => r.workload === w.name && r.failed);
  if (!failed && tf.memory().numTensors !== tensors) throw new Error(`bench: ${w.name} leaked tensors`);
  w.dispose();
}
const report = new Report('our wasm kernels inside training steps');
for (const r of rows) {
  if (r.failed) {
    report.note(`${r.workload}: the step fails with ${baselineName(r.kernel)}`);
    continue;
  }
  report.row(`${r.workload}: step with ${baselineName(r.kernel)}`, r.tfjsMs, 'ms');
  report.row(`${r.workload}: step with our ${r.kernel}`, r.oursMs, 'ms');
  report.ratio(`${r.workload}: our ${r.kernel}`, r.ratio, `${baselineName(r.kernel)} (step time, same run)`);
}
report.note(`load average ${load0.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`);
report.write();
