// Prints the GPU benchmark's results and the WebGPU / PyTorch ratios from the JSON files run.sh wrote.
//   node report.mjs WORK_DIR
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.';
const read = (f) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) : null);
const w = read('webgpu.json');
const tv = read('torch-vmae.json');
const td = read('torch-dit.json');
if (!w) throw new Error(`report.mjs: no webgpu.json in ${dir}`);

const f = (x, d = 1) => x.toFixed(d);
console.log(
  `WebGPU adapter: ${w.adapter.name}${w.adapter.software ? ' (software)' : ''}; Node ${w.node}${w.smoke ? '; SMOKE shapes' : ''}`,
);
if (tv) console.log(`PyTorch ${tv.framework} on ${tv.device}`);
const rows = [
  [
    `VMAE ${w.vmae.preset} ${w.vmae.img}px, batch ${w.vmae.batch}, stage 1 (img/s)`,
    w.vmae.imagesPerSec,
    tv?.images_per_s,
  ],
  [
    `${w.dit.preset} ${w.dit.size}x${w.dit.size}x${w.dit.channels}, batch ${w.dit.batch} (img/s)`,
    w.dit.imagesPerSec,
    td ? w.dit.batch / (td.trainStepMs / 1000) : undefined,
  ],
  [
    `sampling: Euler ${w.dit.sample.steps} steps, CFG ${w.dit.sample.cfg}, batch ${w.dit.sample.batch} (img/s)`,
    w.dit.sample.imagesPerSec,
    td ? 1000 / td.sampleMsPerImage : undefined,
  ],
];
console.log(
  `${'workload'.padEnd(72)} ${'WebGPU'.padStart(9)} ${'PyTorch'.padStart(9)} ${'WebGPU/PyTorch'.padStart(15)}`,
);
for (const [name, a, b] of rows) {
  const ratio = b ? f(a / b, 3) : '-';
  console.log(`${name.padEnd(72)} ${f(a).padStart(9)} ${(b ? f(b) : '-').padStart(9)} ${ratio.padStart(15)}`);
}
console.log(JSON.stringify({ webgpu: w, torchVmae: tv, torchDit: td }));
