import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { decodeCheckpointHost, encodeCheckpointHost, memoryFolder, setupBackend } from '@ldmae/core';
import { LatentDiffusion } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleFiles,
  type CheckpointFile,
  type CheckpointFiles,
  describeLoaded,
  fetchCheckpointFiles,
  isPipelineFiles,
  type LoadedCheckpoint,
  loadCheckpointBundle,
  loadCheckpointFiles,
  type PipelineFiles,
  pipelineDir,
  sortCheckpointFiles,
  sortFiles,
} from '../src/checkpoint.js';
import { bundledDigits, greyToRgb, pixelVariance } from '../src/images.js';
import { reconstruct } from '../src/reconstruct.js';
import { pipelineOf, sampleGrid } from '../src/sample.js';
import { makeCheckpoint } from './make-checkpoint.js';
import { PoolAE } from './pool-ae.js';

let dir: string;
/** Every file of the quickstart folder (the pipeline folder and the checkpoint layout). */
let all: CheckpointFile[];
/** The checkpoint layout only (a quickstart output of before the pipeline folder). */
let files: CheckpointFile[];

async function walk(root: string, sub = ''): Promise<CheckpointFile[]> {
  const out: CheckpointFile[] = [];
  for (const e of await readdir(join(root, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(root, rel)));
    else out.push({ path: rel, bytes: new Uint8Array(await readFile(join(root, rel))) });
  }
  return out;
}

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'ldmae-playground-'));
  await makeCheckpoint(dir, { aeSteps: 2, ldmSteps: 2 });
  all = await walk(dir);
  files = all.filter((f) => !f.path.startsWith('ldm/pipeline/'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('checkpoint files from bytes', () => {
  it('finds the models in a quickstart folder whatever the order, by path or by bare name', () => {
    const paths = all.map((f) => relative('.', f.path)).sort();
    expect(paths).toEqual([
      'config.json',
      'latents/cache-info.json',
      'ldm/checkpoint/meta.json',
      'ldm/checkpoint/model-1.safetensors',
      'ldm/pipeline/README.md',
      'ldm/pipeline/autoencoder-1.safetensors',
      'ldm/pipeline/denoiser-1.safetensors',
      'ldm/pipeline/pipeline.json',
      'vmae/autoencoder.safetensors',
    ]);
    const b = sortCheckpointFiles([...files].reverse());
    // The checkpoint layout's files are found the same with the pipeline folder beside them.
    const withPipeline = sortCheckpointFiles([...all].reverse());
    expect([withPipeline.vmae.path, withPipeline.ldm.path]).toEqual([
      'vmae/autoencoder.safetensors',
      'ldm/checkpoint/model-1.safetensors',
    ]);
    expect(b.vmae.path).toBe('vmae/autoencoder.safetensors');
    expect(b.ldm.path).toBe('ldm/checkpoint/model-1.safetensors');
    expect(b.ldmMeta?.path).toBe('ldm/checkpoint/meta.json');
    expect(b.cacheInfo?.path).toBe('latents/cache-info.json');
    // A multi-file picker gives bare names: the files are told apart by their content.
    const bare = sortCheckpointFiles(files.map((f) => ({ path: f.path.split('/').pop()!, bytes: f.bytes })));
    expect(bare.vmae.bytes).toBe(b.vmae.bytes);
    expect(bare.ldm.bytes).toBe(b.ldm.bytes);
    expect(bare.ldmMeta?.bytes).toBe(b.ldmMeta?.bytes);
  });

  it('takes the weights meta.json names when a folder also holds an uncommitted save', () => {
    const ldm = files.find((f) => f.path === 'ldm/checkpoint/model-1.safetensors')!;
    const orphan = { path: 'ldm/checkpoint/model-2.safetensors', bytes: ldm.bytes.slice() };
    expect(sortCheckpointFiles([orphan, ...files]).ldm.path).toBe('ldm/checkpoint/model-1.safetensors');
  });

  it('names what is missing', () => {
    const noLdm = files.filter((f) => !f.path.startsWith('ldm/'));
    expect(() => sortCheckpointFiles(noLdm)).toThrow(
      /no diffusion checkpoint.*expected ldm\/checkpoint\/ \(meta\.json and the weights it names\)/,
    );
    const noVmae = files.filter((f) => !f.path.startsWith('vmae/'));
    expect(() => sortCheckpointFiles(noVmae)).toThrow(/no VMAE.*vmae\/autoencoder\.safetensors/);
    expect(() => sortCheckpointFiles('x' as never)).toThrow(/files must be an array/);
  });

  it('detects a corrupt weights file through meta.json and through the checkpoint CRC', async () => {
    const b = sortCheckpointFiles(files);
    const bad = b.ldm.bytes.slice();
    bad[bad.length - 3] ^= 0x40;
    const before = tf.memory().numTensors;
    await expect(loadCheckpointBundle({ ...b, ldm: { path: b.ldm.path, bytes: bad } })).rejects.toThrow(
      /'ldm\/checkpoint\/model-1\.safetensors' \(\d+ bytes, crc [0-9a-f]{8}\) does not match meta\.json \('ldm\/checkpoint\/meta\.json'/,
    );
    const wrongFormat = new TextEncoder().encode(
      new TextDecoder().decode(b.ldmMeta!.bytes).replace('"ldmae-checkpoint"', '"other"'),
    );
    await expect(
      loadCheckpointBundle({ ...b, ldmMeta: { path: b.ldmMeta!.path, bytes: wrongFormat } }),
    ).rejects.toThrow(/'ldm\/checkpoint\/meta\.json' is not an LDMAE checkpoint description/);
    expect(tf.memory().numTensors).toBe(before);
    await expect(
      loadCheckpointBundle({ ...b, ldmMeta: null, ldm: { path: b.ldm.path, bytes: bad } }),
    ).rejects.toThrow(/model-1\.safetensors.*CRC-32 mismatch/);
  });

  it('loads, reconstructs and samples without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadCheckpointBundle(sortCheckpointFiles(files));
    try {
      expect(loaded.normalizationFrom).toBe('ldm checkpoint');
      expect(loaded.info.latentShape).toEqual([7, 7, 4]);
      expect(loaded.info.numClasses).toBe(10);
      const d = bundledDigits();
      const inBetween = tf.memory().numTensors;
      const r = await reconstruct(loaded.vmae, greyToRgb(d.images.slice(0, 4), d.size));
      expect(r.psnr).toHaveLength(4);
      expect([...r.psnr, ...r.ssim].every(Number.isFinite)).toBe(true);
      expect(pixelVariance(r.recon.data)).toBeGreaterThan(0);
      const g = await sampleGrid(loaded, { perClass: 1, steps: 2, seed: 3, cfg: 2 });
      expect(g.images.shape).toEqual([10, 28, 28, 3]);
      expect(g.images.data.every(Number.isFinite)).toBe(true);
      expect(pixelVariance(g.images.data)).toBeGreaterThan(0);
      const again = await sampleGrid(loaded, { perClass: 1, steps: 2, seed: 3, cfg: 2 });
      expect(again.images.data).toEqual(g.images.data);
      expect(tf.memory().numTensors).toBe(inBetween);
    } finally {
      loaded.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fills in what a checkpoint of another trainer does not record', async () => {
    const b = sortCheckpointFiles(files);
    const host = decodeCheckpointHost(b.ldm.bytes);
    const cfg = JSON.parse(host.metadata.config);
    delete cfg.user;
    const bytes = encodeCheckpointHost(host.tensors, { ...host.metadata, config: JSON.stringify(cfg) });
    const other = { ...b, ldm: { path: 'other.safetensors', bytes }, ldmMeta: null };
    const before = tf.memory().numTensors;
    const loaded = await loadCheckpointBundle(other);
    try {
      expect(loaded.normalizationFrom).toBe('cache-info.json');
      const cacheInfo = JSON.parse(new TextDecoder().decode(b.cacheInfo!.bytes));
      expect(loaded.info).toEqual({
        cache: null,
        autoencoder: null,
        normalization: cacheInfo.normalization,
        latentShape: [7, 7, 4],
        imageShape: [28, 28, 3],
        numClasses: 10,
        classes: null,
      });
      expect(loaded.step).toBe(2);
    } finally {
      loaded.dispose();
    }
    // Neither the checkpoint nor cache-info.json nor the VMAE gives a normalisation: named.
    expect(loaded.vmae.latentNormalization).toBeNull();
    await expect(loadCheckpointBundle({ ...other, cacheInfo: null })).rejects.toThrow(
      /^'other\.safetensors': metadata\.config\.user\.normalization must be \{ shift, scale \} with 4 finite numbers each .*got nothing/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fetches the same relative paths from a base URL', async () => {
    const asked: string[] = [];
    const fake = (async (url: string) => {
      asked.push(url);
      const rel = url.replace('http://host/run/', '');
      const f = files.find((x) => x.path === rel);
      return f ? new Response(f.bytes.slice().buffer) : new Response('missing', { status: 404 });
    }) as typeof fetch;
    const got = await fetchCheckpointFiles('http://host/run/', fake);
    expect(got.map((f) => f.path).sort()).toEqual(files.map((f) => f.path).sort());
    // No pipeline folder (404 for both places one may be): the checkpoint layout.
    expect(asked.slice(0, 3)).toEqual([
      'http://host/run/ldm/pipeline/pipeline.json',
      'http://host/run/pipeline.json',
      'http://host/run/ldm/checkpoint/meta.json',
    ]);
    const notFound = (async () => new Response('no', { status: 404 })) as unknown as typeof fetch;
    await expect(fetchCheckpointFiles('http://host/none', notFound)).rejects.toThrow(
      /cannot fetch http:\/\/host\/none\/ldm\/checkpoint\/meta\.json: HTTP 404 \(and no ldm\/pipeline\/pipeline\.json or pipeline\.json there either/,
    );
  });
});

/** The largest absolute difference of two arrays of the same length. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A fake fetch serving `served` (paths relative to http://host/run/) with 404s or `missing`. */
function fakeFetch(served: CheckpointFile[], asked: string[] = [], missing?: () => Response): typeof fetch {
  return (async (url: string) => {
    asked.push(url);
    const f = served.find((x) => `http://host/run/${x.path}` === url);
    if (f) return new Response(f.bytes.slice().buffer);
    return missing ? missing() : new Response('missing', { status: 404 });
  }) as typeof fetch;
}

const htmlPage = () =>
  new Response('<!doctype html><title>playground</title>', { headers: { 'content-type': 'text/html' } });

/** Save `pipe` with LatentDiffusion.save into a memoryFolder; its files under `prefix`. */
async function savedFiles(pipe: LatentDiffusion, prefix: string): Promise<CheckpointFile[]> {
  const folder = memoryFolder({}, 'saved');
  await pipe.save(folder, {
    imageShape: [28, 28, 3],
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  });
  return Object.entries(folder.files()).map(([name, bytes]) => ({ path: `${prefix}${name}`, bytes }));
}

const grid = (c: LoadedCheckpoint) => sampleGrid(c, { perClass: 1, steps: 2, seed: 3, cfg: 2 });

describe('pipeline folders', () => {
  let old: LoadedCheckpoint;
  let oldSamples: Float32Array;

  beforeAll(async () => {
    old = await loadCheckpointBundle(sortCheckpointFiles(files));
    oldSamples = (await grid(old)).images.data;
  });
  afterAll(() => old?.dispose());

  it('finds the folder holding pipeline.json at any depth, the quickstart one first', () => {
    expect(pipelineDir(['a/b/pipeline.json', 'c/pipeline.json', 'vmae/autoencoder.safetensors'])).toBe('c');
    expect(pipelineDir(['x/ldm/pipeline/pipeline.json', 'pipeline.json'])).toBe('x/ldm/pipeline');
    expect(pipelineDir(['run\\p\\pipeline.json'])).toBe('run/p');
    expect(pipelineDir(['pipeline.json', 'denoiser-1.safetensors'])).toBe('');
    expect(pipelineDir(files.map((f) => f.path))).toBeNull();

    const sorted = sortFiles([...all].reverse());
    expect(isPipelineFiles(sorted)).toBe(true);
    const p = sorted as PipelineFiles;
    expect(p.dir).toBe('ldm/pipeline');
    expect(p.json.path).toBe('ldm/pipeline/pipeline.json');
    expect(p.files.map((f) => f.path).sort()).toEqual(
      all
        .filter((f) => f.path.startsWith('ldm/pipeline/'))
        .map((f) => f.path)
        .sort(),
    );
    // What IndexedDB keeps: pipeline.json and the two files it names (not the model card).
    expect(
      bundleFiles(p)
        .map((f) => f.path)
        .sort(),
    ).toEqual([
      'ldm/pipeline/autoencoder-1.safetensors',
      'ldm/pipeline/denoiser-1.safetensors',
      'ldm/pipeline/pipeline.json',
    ]);
    // Deeper in a picked folder, and as bare names.
    const deep = sortFiles(all.map((f) => ({ path: `picked/run/${f.path}`, bytes: f.bytes })));
    expect((deep as PipelineFiles).dir).toBe('picked/run/ldm/pipeline');
    const bare = sortFiles(bundleFiles(p).map((f) => ({ path: f.path.split('/').pop()!, bytes: f.bytes })));
    expect((bare as PipelineFiles).dir).toBe('');
    expect((bare as PipelineFiles).files).toHaveLength(3);
    // Without pipeline.json: the checkpoint layout.
    expect(isPipelineFiles(sortFiles(files))).toBe(false);
  });

  it("loads the quickstart's ldm/pipeline/ and samples as its checkpoint (EMA weights, same seed)", async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadCheckpointFiles(sortFiles(all));
    try {
      expect(loaded.layout).toBe('pipeline');
      expect(loaded.source).toBe('ldm/pipeline');
      expect(loaded.weights).toBe('ema');
      expect(loaded.step).toBe(2);
      expect(loaded.normalizationFrom).toBe('pipeline.json');
      expect(loaded.vmae.inputRange).toBe('clamp');
      expect(loaded.info).toEqual({
        ...old.info,
        cache: 'latents',
        autoencoder: 'vmae/autoencoder.safetensors',
      });
      expect(describeLoaded(loaded)).toMatch(
        /^pipeline folder ldm\/pipeline: VMAE patch \d+, \d+-wide, latents 7x7x4; diffusion model of 10 classes \(EMA weights\) at step 2; normalisation from the pipeline \(pipeline\.json\)$/,
      );
      expect(describeLoaded(old)).toMatch(
        /^checkpoint ldm\/checkpoint\/model-1\.safetensors: .* \(EMA weights\) at step 2; normalisation from ldm checkpoint$/,
      );
      const inBetween = tf.memory().numTensors;
      const g = await grid(loaded);
      expect(maxDiff(g.images.data, oldSamples)).toBeLessThanOrEqual(1e-6);
      const d = bundledDigits();
      const imgs = greyToRgb(d.images.slice(0, 4), d.size);
      const [a, b] = [await reconstruct(loaded.vmae, imgs), await reconstruct(old.vmae, imgs)];
      expect(maxDiff(a.recon.data, b.recon.data)).toBeLessThanOrEqual(1e-6);
      expect(tf.memory().numTensors).toBe(inBetween);
    } finally {
      loaded.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads a pipeline saved with LatentDiffusion.save into memoryFolder from picked files, samples equal, reloads from what is stored', async () => {
    const before = tf.memory().numTensors;
    const picked = await savedFiles(old.pipeline, 'picked/my-pipeline/');
    const sorted = sortFiles(picked);
    const loaded = await loadCheckpointFiles(sorted);
    try {
      expect(loaded.layout).toBe('pipeline');
      expect(loaded.source).toBe('picked/my-pipeline');
      expect(loaded.weights).toBe('model');
      expect(loaded.step).toBeNull();
      expect(loaded.info).toEqual({ ...old.info, cache: null, autoencoder: null });
      expect(describeLoaded(loaded)).toMatch(/\(trained weights\); normalisation from the pipeline/);
      const g = await grid(loaded);
      expect(g.images.shape).toEqual([10, 28, 28, 3]);
      expect(maxDiff(g.images.data, oldSamples)).toBeLessThanOrEqual(1e-6);
      // The pipeline's own scheduler (Euler, shift 0.3), or Euler with another shift.
      expect(pipelineOf(loaded)).toBe(loaded.pipeline);
      expect(pipelineOf(loaded, 0.3)).toBe(loaded.pipeline);
      const other = pipelineOf(loaded, 1);
      expect(other.scheduler.toJSON()).toEqual({ type: 'flow-euler', shift: 1 });
      expect([other.denoiser, other.normalization]).toEqual([loaded.denoiser, loaded.pipeline.normalization]);
      const shifted = await sampleGrid(loaded, { perClass: 1, steps: 2, seed: 3, cfg: 2, shift: 1 });
      expect(shifted.images.data.every(Number.isFinite)).toBe(true);
    } finally {
      loaded.dispose();
    }
    // What IndexedDB keeps loads again.
    const stored: CheckpointFiles = sortFiles(bundleFiles(sorted).map((f) => ({ ...f })));
    const again = await loadCheckpointFiles(stored);
    try {
      expect(maxDiff((await grid(again)).images.data, oldSamples)).toBeLessThanOrEqual(1e-6);
    } finally {
      again.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fetches <base>/ldm/pipeline/ first, else a pipeline folder at <base>, else the checkpoint layout', async () => {
    const before = tf.memory().numTensors;
    const asked: string[] = [];
    const got = await fetchCheckpointFiles('http://host/run', fakeFetch(all, asked));
    expect(asked[0]).toBe('http://host/run/ldm/pipeline/pipeline.json');
    expect(got.map((f) => f.path).sort()).toEqual([
      'ldm/pipeline/autoencoder-1.safetensors',
      'ldm/pipeline/denoiser-1.safetensors',
      'ldm/pipeline/pipeline.json',
    ]);
    expect(asked).toHaveLength(3);
    const loaded = await loadCheckpointFiles(sortFiles(got));
    try {
      expect(loaded.layout).toBe('pipeline');
      expect(maxDiff((await grid(loaded)).images.data, oldSamples)).toBeLessThanOrEqual(1e-6);
    } finally {
      loaded.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);

    // The URL of a pipeline folder itself (one saved by LatentDiffusion.save).
    const saved = await savedFiles(old.pipeline, '');
    const own = await fetchCheckpointFiles('http://host/run/', fakeFetch(saved));
    expect(own.map((f) => f.path).sort()).toEqual([
      'autoencoder-1.safetensors',
      'denoiser-1.safetensors',
      'pipeline.json',
    ]);
    expect((sortFiles(own) as PipelineFiles).dir).toBe('');

    // A dev server answers every missing path with its index.html: no pipeline, the checkpoint layout.
    const spa = await fetchCheckpointFiles('http://host/run/', fakeFetch(files, [], htmlPage));
    expect(spa.map((f) => f.path).sort()).toEqual(files.map((f) => f.path).sort());
    // ... but an HTML page in place of a file pipeline.json names is an error.
    const noParts = all.filter((f) => !/ldm\/pipeline\/denoiser/.test(f.path));
    await expect(fetchCheckpointFiles('http://host/run/', fakeFetch(noParts, [], htmlPage))).rejects.toThrow(
      /^http:\/\/host\/run\/ldm\/pipeline\/denoiser-1\.safetensors is an HTML page, not a checkpoint file/,
    );
    await expect(fetchCheckpointFiles('http://host/run/', fakeFetch(noParts))).rejects.toThrow(
      /cannot fetch http:\/\/host\/run\/ldm\/pipeline\/denoiser-1\.safetensors: HTTP 404/,
    );
    // Failures other than 404 are not taken for "no pipeline".
    const down = (async () => new Response('down', { status: 503 })) as unknown as typeof fetch;
    await expect(fetchCheckpointFiles('http://host/run/', down)).rejects.toThrow(
      /cannot fetch http:\/\/host\/run\/ldm\/pipeline\/pipeline\.json: HTTP 503/,
    );
  });

  it('names the folder and what it holds when the autoencoder is not a VMAE; names missing or bad files', async () => {
    const ae = new PoolAE(4);
    const pipe = new LatentDiffusion({
      autoencoder: ae,
      denoiser: old.denoiser,
      normalization: old.info.normalization,
    });
    let picked: CheckpointFile[];
    try {
      picked = await savedFiles(pipe, 'runs/pool/');
    } finally {
      ae.dispose();
      pipe.scheduler.dispose();
    }
    const before = tf.memory().numTensors;
    await expect(loadCheckpointFiles(sortFiles(picked))).rejects.toThrow(
      /^the pipeline folder 'runs\/pool' holds the autoencoder 'pool-ae' \(PoolAE \(playground test\), in autoencoder-1\.safetensors\) and a denoiser of 7x7x4 latents, not a VMAE: the playground reconstructs with a VMAE/,
    );
    expect(tf.memory().numTensors).toBe(before);

    const p = sortFiles(all) as PipelineFiles;
    const noDenoiser = { ...p, files: p.files.filter((f) => !f.path.includes('denoiser')) };
    await expect(loadCheckpointFiles(noDenoiser)).rejects.toThrow(
      /'ldm\/pipeline\/denoiser-1\.safetensors', named by pipeline\.json, is missing/,
    );
    const badJson = {
      ...p,
      json: { path: p.json.path, bytes: new TextEncoder().encode('{"format":"other"}') },
    };
    await expect(loadCheckpointFiles(badJson)).rejects.toThrow(
      /^'ldm\/pipeline\/pipeline\.json': format must be 'ldmae-pipeline', got "other"/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
