/**
 * The model registry: a registered kind round-trips through every source (path of a file or folder,
 * bytes, a memory folder, a fetched folder, host tensors); importers detect foreign files; and every
 * failure says what the source is and what was expected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  decodeCheckpointHost,
  encodeCheckpoint,
  fetchFolder,
  Linear,
  localFolder,
  type ModelKind,
  ModelRegistry,
  Module,
  makeCheckpointPayload,
  memoryFolder,
  readCheckpoint,
  saveCheckpoint,
  setupBackend,
  toTfTensors,
} from '../src/index.node.js';

class Toy extends Module {
  readonly lin: Linear;
  constructor(
    readonly width: number,
    seed: number,
  ) {
    super();
    this.lin = this.registerModule('lin', new Linear(3, width, { rng: createRng(seed) }));
  }
}

const toyKind: ModelKind<Toy> = {
  format: 'test-toy',
  description: 'Toy (test)',
  owns: (m) => m instanceof Toy,
  toPayload: (m) =>
    makeCheckpointPayload({ model: m, step: 0, config: { format: 'test-toy', width: m.width } }),
  fromCheckpoint: (c, opts) => {
    const toy = new Toy(c.config.width as number, 0);
    const up = toTfTensors(c.tensors);
    const w: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(up)) if (k.startsWith('model.')) w[k.slice(6)] = t;
    try {
      toy.loadStateDict(w, { strict: opts.strict !== false });
    } finally {
      tf.dispose(Object.values(up));
    }
    return toy;
  },
};

const toys = new ModelRegistry<Toy>('toy');
toys.register(toyKind);
const others = new ModelRegistry<Toy>('gadget');
others.register({ ...toyKind, format: 'test-gadget', description: 'Gadget (test)' });

const dir = mkdtempSync(join(tmpdir(), 'ldmae-registry-'));
let toy: Toy;
let bytes: Uint8Array;

const weightOf = (m: Toy) => Array.from(m.lin.weight.dataSync());

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  toy = new Toy(4, 3);
  const p = toys.checkpointOf(toy);
  bytes = await encodeCheckpoint(p);
  await saveCheckpoint(join(dir, 'folder'), p);
  await saveCheckpoint(join(dir, 'file.safetensors'), p);
  tf.dispose(Object.values(p.tensors));
});

afterAll(() => {
  toy.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('ModelRegistry.load', () => {
  it('reads a registered kind from every kind of source, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    const folderFiles = {
      'meta.json': await localFolder(join(dir, 'folder')).read('meta.json'),
    } as Record<string, Uint8Array>;
    const meta = JSON.parse(new TextDecoder().decode(folderFiles['meta.json']));
    folderFiles[meta.weights] = (await localFolder(join(dir, 'folder')).read(meta.weights)) as Uint8Array;
    const fetchFn = async (url: string) => {
      const name = url.slice('https://h/m/'.length);
      const b = folderFiles[name];
      return b ? new Response(b.slice().buffer as ArrayBuffer) : new Response('', { status: 404 });
    };
    const sources = [
      join(dir, 'folder'),
      join(dir, 'file.safetensors'),
      bytes,
      memoryFolder(folderFiles),
      fetchFolder('https://h/m', { fetch: fetchFn }),
      decodeCheckpointHost(bytes),
    ];
    for (const s of sources) {
      const r = await toys.load(s);
      expect(r.format).toBe('test-toy');
      expect(r.description).toBe('Toy (test)');
      expect(weightOf(r.model)).toEqual(weightOf(toy));
      r.model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tries importers for foreign files, in registration order', async () => {
    const reg = new ModelRegistry<Toy>('toy');
    reg.register(toyKind);
    const seen: string[] = [];
    reg.registerImporter({
      description: 'never',
      detect: () => {
        seen.push('never');
        return false;
      },
      load: () => {
        throw new Error('unreachable');
      },
    });
    reg.registerImporter({
      description: 'text files starting with TOY',
      detect: ({ bytes: b }) => !!b && new TextDecoder().decode(b.subarray(0, 3)) === 'TOY',
      load: ({ bytes: b }) => new Toy(Number(new TextDecoder().decode(b).slice(3)), 1),
    });
    const r = await reg.load(new TextEncoder().encode('TOY5'));
    expect(seen).toEqual(['never']);
    expect(r.model.width).toBe(5);
    expect(r.format).toBe('text files starting with TOY');
    r.model.dispose();
    await expect(reg.load(new TextEncoder().encode('nope'))).rejects.toThrow(
      /'bytes' is not a toy checkpoint .*readers: LDMAE toy checkpoints \('test-toy' Toy \(test\)\); never; text files starting with TOY/,
    );
  });

  it('says what a file is when it is not what was asked for', async () => {
    await expect(others.load(bytes)).rejects.toThrow(
      /loadGadget: 'bytes' holds a toy \(format 'test-toy'\), not a gadget: use loadToy/,
    );
    const p = makeCheckpointPayload({ model: toy, step: 0, config: { format: 'ldmae-vmae' } });
    const vm = await encodeCheckpoint(p);
    tf.dispose(Object.values(p.tensors));
    await expect(toys.load(vm)).rejects.toThrow(
      /format 'ldmae-vmae', which no registered toy kind reads .*import '@ldmae\/vmae' so that it registers/,
    );
    const q = makeCheckpointPayload({ model: toy, step: 0, config: { width: 4 } });
    const nf = await encodeCheckpoint(q);
    tf.dispose(Object.values(q.tensors));
    await expect(toys.load(nf)).rejects.toThrow(/declares no format in its config/);
    const damaged = bytes.slice();
    damaged[damaged.length - 1] ^= 0xff;
    await expect(toys.load(damaged)).rejects.toThrow(/'bytes' is a damaged LDMAE checkpoint: .*crc/i);
    await expect(toys.load(join(dir, 'missing'))).rejects.toThrow(/'.*missing' does not exist/);
    writeFileSync(join(dir, 'junk.bin'), 'not a model');
    await expect(toys.load(join(dir, 'junk.bin'))).rejects.toThrow(/junk\.bin' is not a toy checkpoint/);
    await expect(toys.load(42 as never)).rejects.toThrow(/source must be a path \(Node\), a Uint8Array/);
  });

  it('refuses folder entries that leave the folder, and unregistered models on save', async () => {
    await expect(
      toys.load(memoryFolder({ 'meta.json': JSON.stringify({ weights: '../x' }) }, 'evil')),
    ).rejects.toThrow(/'\.\.\/x' is not a file name inside the folder/);
    expect(() => memoryFolder({ '../a': 'x' })).toThrow(/not a file name inside the folder/);
    const plain = new Toy(2, 0);
    expect(() => others.checkpointOf({ name: 'stranger' } as never)).toThrow(
      /no registered gadget kind owns this model \('stranger'\)/,
    );
    plain.dispose();
  });

  it('refuses a format registered by another family, and malformed kinds', () => {
    expect(() => others.register(toyKind)).toThrow(/format 'test-toy' is already a toy format/);
    expect(() => toys.register({ ...toyKind, fromCheckpoint: undefined } as never)).toThrow(
      /fromCheckpoint must be a function/,
    );
  });

  it('readCheckpoint reads an LDMAE checkpoint from a path, bytes or a folder, and refuses anything else', async () => {
    for (const s of [join(dir, 'folder'), join(dir, 'file.safetensors'), bytes]) {
      const c = await readCheckpoint(s);
      expect(JSON.parse(c.metadata.config)).toEqual({ format: 'test-toy', width: 4 });
      expect(Object.keys(c.tensors).sort()).toEqual(['model.lin.bias', 'model.lin.weight']);
    }
    expect((await readCheckpoint(join(dir, 'folder'))).location).toBe(join(dir, 'folder'));
    await expect(readCheckpoint(join(dir, 'junk.bin'), 'myLoader')).rejects.toThrow(
      /myLoader: '.*junk\.bin' is not an LDMAE checkpoint \(expected a \.safetensors file saved by saveCheckpoint\)/,
    );
    await expect(readCheckpoint(memoryFolder({}, 'empty'))).rejects.toThrow(
      /'empty' is not an LDMAE checkpoint \(expected a checkpoint folder with meta\.json\)/,
    );
  });

  it('fetchFolder: 404 reads as absent, other failures name the URL', async () => {
    const f = fetchFolder('https://h/m/', {
      fetch: async (url) => new Response('', { status: url.endsWith('a') ? 404 : 500 }),
    });
    expect(await f.read('a')).toBeNull();
    await expect(f.read('b')).rejects.toThrow(/GET https:\/\/h\/m\/b failed with HTTP 500/);
  });

  it('localFolder writes atomically and lists files', async () => {
    const store = localFolder(join(dir, 'store'));
    expect(await store.list()).toEqual([]);
    await store.write('a.txt', new TextEncoder().encode('hello'));
    await store.write('a.txt', [new TextEncoder().encode('he'), new TextEncoder().encode('y')]);
    expect(new TextDecoder().decode((await store.read('a.txt')) as Uint8Array)).toBe('hey');
    expect(await store.list()).toEqual(['a.txt']);
    await store.remove('a.txt');
    await store.remove('a.txt');
    expect(await store.read('a.txt')).toBeNull();
  });
});
