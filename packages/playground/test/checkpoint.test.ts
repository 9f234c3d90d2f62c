import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { decodeCheckpointHost, encodeCheckpointHost, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckpointFile,
  disposeLoaded,
  fetchCheckpointFiles,
  loadCheckpointBundle,
  sortCheckpointFiles,
} from '../src/checkpoint.js';
import { bundledDigits, greyToRgb, pixelVariance } from '../src/images.js';
import { reconstruct } from '../src/reconstruct.js';
import { sampleGrid } from '../src/sample.js';
import { makeCheckpoint } from './make-checkpoint.js';

let dir: string;
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
  files = await walk(dir);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('checkpoint files from bytes', () => {
  it('finds the models in a quickstart folder whatever the order, by path or by bare name', () => {
    const paths = files.map((f) => relative('.', f.path)).sort();
    expect(paths).toEqual([
      'config.json',
      'latents/cache-info.json',
      'ldm/checkpoint/meta.json',
      'ldm/checkpoint/model-1.safetensors',
      'vmae/autoencoder.safetensors',
    ]);
    const b = sortCheckpointFiles([...files].reverse());
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
      disposeLoaded(loaded);
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
      disposeLoaded(loaded);
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
    expect(asked[0]).toBe('http://host/run/ldm/checkpoint/meta.json');
    const notFound = (async () => new Response('no', { status: 404 })) as unknown as typeof fetch;
    await expect(fetchCheckpointFiles('http://host/none', notFound)).rejects.toThrow(
      /cannot fetch http:\/\/host\/none\/ldm\/checkpoint\/meta\.json: HTTP 404/,
    );
  });
});
