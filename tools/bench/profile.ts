/**
 * Per-kernel summary of a `tf.profile` run, shared by the benchmarks' `--profile` options: time and
 * call count by kernel, then the costliest (kernel, input shapes) pairs.
 */
import type * as tf from '@tensorflow/tfjs-core';

type ProfileInfo = Awaited<ReturnType<typeof tf.profile>>;

interface Entry {
  ms: number;
  n: number;
}

function add(map: Map<string, Entry>, key: string, ms: number): void {
  const e = map.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n++;
  map.set(key, e);
}

/**
 * Print the `top` kernels by time (with their call counts) and the `topShapes` costliest kernel /
 * input-shape pairs. customGrad scopes ('unnamed scope') are skipped: their kernels are listed too.
 */
export function printProfile(info: ProfileInfo, title: string, top = 12, topShapes = 10): void {
  const byName = new Map<string, Entry>();
  const byShape = new Map<string, Entry>();
  let total = 0;
  let calls = 0;
  for (const k of info.kernels) {
    if (k.name === 'unnamed scope') continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    add(byName, k.name, ms);
    add(byShape, `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')}`, ms);
    total += ms;
    calls++;
  }
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(1).padStart(5)}%`;
  console.log(`  ${title} (tf.profile: ${calls} kernel calls, ${total.toFixed(1)} ms of kernel time):`);
  for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(
      `    ${name.padEnd(30)} ${e.ms.toFixed(1).padStart(8)} ms ${pct(e.ms)} ${String(e.n).padStart(5)} calls`,
    );
  }
  if (topShapes <= 0) return;
  console.log('  costliest kernel / input shapes:');
  for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, topShapes)) {
    console.log(`    ${e.ms.toFixed(1).padStart(8)} ms ${pct(e.ms)} ${String(e.n).padStart(4)}x  ${key}`);
  }
}
