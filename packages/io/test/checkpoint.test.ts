import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convertFile,
  encodeCheckpoint,
  loadCheckpoint,
  parseTensorFile,
  readTensorFile,
  readTensorFileToTf,
  saveCheckpoint,
  writeFileAtomic,
  writeTensorFile,
} from '../src/index.node.js';
import { payload } from './payload.js';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ldmae-io-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoints', () => {
  it('saves and loads a single .safetensors file and a folder, with metadata, without leaking tensors', async () => {
    const p = payload();
    const before = tf.memory().numTensors;
    for (const target of [join(dir, 'single.safetensors'), join(dir, 'folder')]) {
      await saveCheckpoint(target, p);
      const back = await loadCheckpoint(target);
      expect(back.metadata).toEqual(p.metadata);
      expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(p.tensors).sort());
      for (const [k, t] of Object.entries(p.tensors)) {
        expect(back.tensors[k].dtype, k).toBe(t.dtype);
        expect(back.tensors[k].shape, k).toEqual(t.shape);
        expect(Array.from(back.tensors[k].dataSync()), k).toEqual(Array.from(t.dataSync()));
      }
      tf.dispose(Object.values(back.tensors));
    }
    expect(tf.memory().numTensors).toBe(before);
    expect((await readdir(join(dir, 'folder'))).sort()).toEqual(['meta.json', 'model-1.safetensors']);
    const meta = JSON.parse(await readFile(join(dir, 'folder', 'meta.json'), 'utf8'));
    expect(meta.metadata).toEqual(p.metadata);
    // Streamed saving writes exactly the bytes of the in-memory encoder.
    expect(Buffer.compare(await readFile(join(dir, 'single.safetensors')), await encodeCheckpoint(p))).toBe(
      0,
    );
    // The single file is a plain safetensors file any reader understands.
    const plain = parseTensorFile(await readFile(join(dir, 'single.safetensors')), 'safetensors');
    expect(plain.metadata.step).toBe('12');
    expect(plain.metadata['ldmae.io.crc32']).toMatch(/^[0-9a-f]{8}$/);
    expect(Array.from(plain.tensors['model.w'].data as Float32Array)).toEqual([1, 2, 3, 4.5]);
    tf.dispose(Object.values(p.tensors));
  });

  it('writes atomically: no temporary files remain, and a failed save leaves the old checkpoint intact', async () => {
    const target = join(dir, 'atomic.safetensors');
    const p = payload();
    await saveCheckpoint(target, p);
    const first = await readFile(target);
    await expect(
      saveCheckpoint(target, { tensors: p.tensors, metadata: { bad: 5 as unknown as string } }),
    ).rejects.toThrow(/metadata\['bad'\] must be a string/);
    p.tensors['model.w'].dispose();
    await expect(saveCheckpoint(target, p)).rejects.toThrow(/disposed/);
    expect(Buffer.compare(await readFile(target), first)).toBe(0);
    await expect(writeFileAtomic(join(dir, 'missing-dir', 'x.bin'), new Uint8Array(1))).rejects.toThrow(
      /ENOENT/,
    );
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    tf.dispose(Object.values(p.tensors));
  });
});

describe('tensor files on disk', () => {
  it('converts the LPIPS vgg head between .pth, .safetensors, .npz and .npy by extension', async () => {
    const src = '/work/shared/weights/lpips-v0.1/vgg.pth';
    const ref = (await readTensorFile(src)).tensors;
    const st = join(dir, 'vgg.safetensors');
    const npz = join(dir, 'vgg.npz');
    const pth = join(dir, 'vgg-roundtrip.pt');
    expect(await convertFile(src, st)).toEqual({ tensors: 5, bytes: (await readFile(st)).length });
    await convertFile(st, npz);
    await convertFile(npz, pth);
    for (const f of [st, npz, pth]) expect((await readTensorFile(f)).tensors, f).toEqual(ref);
    const one = join(dir, 'lin0.npy');
    await writeTensorFile(one, { w: ref['lin0.model.1.weight'] });
    expect((await readTensorFile(one)).tensors.arr_0).toEqual(ref['lin0.model.1.weight']);
    await expect(writeTensorFile(join(dir, 'x.npy'), ref)).rejects.toThrow(/exactly one tensor, got 5/);
    await expect(readTensorFile(join(dir, 'x.onnx'))).rejects.toThrow(/cannot tell the tensor format of/);
    const before = tf.memory().numTensors;
    const tfs = await readTensorFileToTf(st);
    expect(tfs['lin2.model.1.weight'].shape).toEqual([1, 256, 1, 1]);
    tf.dispose(Object.values(tfs));
    expect(tf.memory().numTensors).toBe(before);
  });
});
