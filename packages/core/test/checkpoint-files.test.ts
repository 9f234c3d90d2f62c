// Checkpoint and state-dict files meeting core's Module, AdamW and payload: what io reads must restore a
// model exactly, and a bad file must leave the model untouched.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../../io/test/payload.js';
import {
  AdamW,
  createRng,
  diffKeys,
  encodeCheckpointHost,
  type HostTensor,
  loadCheckpoint,
  Module,
  makeCheckpointPayload,
  restoreCheckpointPayload,
  saveCheckpoint,
  setupBackend,
  TensorFormatError,
} from '../src/index.node.js';

let dir: string;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'ldmae-io-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

class Net extends Module {
  constructor(seed: number) {
    super();
    const r = createRng(seed);
    this.registerParameter('proj', r.normal([3, 4]), { layout: 'linear' });
    this.registerParameter('bias', r.normal([4]));
    this.registerBuffer('count', tf.tensor1d([seed], 'int32'));
  }
}

function values(m: Module): Record<string, number[]> {
  const sd = m.stateDict();
  const out = Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, Array.from(t.dataSync())]));
  tf.dispose(Object.values(sd));
  return out;
}

describe('checkpoint files and modules', () => {
  it('resumes a Module, its AdamW state, step, rng and config exactly through makeCheckpointPayload', async () => {
    const grads = () => ({ proj: tf.fill([3, 4], 0.5), bias: tf.fill([4], -1) });
    const step = (opt: AdamW) => {
      const g = grads();
      opt.step(g);
      tf.dispose(Object.values(g));
    };
    const a = new Net(1);
    const optA = new AdamW({ params: a.namedParameters(), lr: 0.01 });
    step(optA);
    step(optA);
    const rng = createRng(5);
    rng.uniformArray(3);
    const p = makeCheckpointPayload({ model: a, optimizer: optA, step: 2, rng, config: { preset: 'tiny' } });
    const target = join(dir, 'run');
    await saveCheckpoint(target, p);
    tf.dispose(Object.values(p.tensors));
    const b = new Net(2);
    const optB = new AdamW({ params: b.namedParameters(), lr: 0.5 });
    const rng2 = createRng(99);
    const loaded = await loadCheckpoint(target);
    const restored = restoreCheckpointPayload(loaded, { model: b, optimizer: optB, rng: rng2 });
    tf.dispose(Object.values(loaded.tensors));
    expect(restored).toEqual({ step: 2, config: { preset: 'tiny' } });
    expect(values(b)).toEqual(values(a));
    step(optA);
    step(optB);
    expect(values(b)).toEqual(values(a));
    expect(Array.from(rng2.uniformArray(4))).toEqual(Array.from(rng.uniformArray(4)));
    optA.dispose();
    optB.dispose();
    a.dispose();
    b.dispose();
  });

  it('rejects truncated, bit-flipped and mixed-up checkpoints before creating any tensor', async () => {
    const p = payload();
    const file = join(dir, 'good.safetensors');
    await saveCheckpoint(file, p);
    await saveCheckpoint(join(dir, 'f1'), p);
    const other = payload();
    other.metadata.step = '13';
    await saveCheckpoint(join(dir, 'f2'), other);
    tf.dispose([...Object.values(p.tensors), ...Object.values(other.tensors)]);
    const good = await readFile(file);
    const m = new Net(3);
    const snapshot = values(m);
    const before = tf.memory().numTensors;
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 3), /data section|truncated/],
      ['flipped data bit', flip(good, good.length - 2), /CRC-32 mismatch/],
      ['flipped metadata digit', flipText(good, '"step":"12"', '"step":"13"'), /CRC-32 mismatch/],
    ];
    for (const [name, bytes, re] of cases) {
      const bad = join(dir, `bad-${name.replace(/ /g, '-')}.safetensors`);
      await writeFile(bad, bytes);
      const load = loadCheckpoint(bad).then((c) => m.loadStateDict(c.tensors));
      await expect(load, name).rejects.toThrow(TensorFormatError);
      await expect(loadCheckpoint(bad), name).rejects.toThrow(re);
    }
    // A weights file from one save beside the meta.json of another (an interrupted folder save).
    await writeFile(
      join(dir, 'f1', 'model-1.safetensors'),
      await readFile(join(dir, 'f2', 'model-1.safetensors')),
    );
    await expect(loadCheckpoint(join(dir, 'f1'))).rejects.toThrow(/does not match meta.json/);
    await expect(loadCheckpoint(join(dir, 'nope'))).rejects.toThrow(/does not exist/);
    expect(tf.memory().numTensors).toBe(before);
    expect(values(m)).toEqual(snapshot);
    // An int64 that tfjs cannot hold is reported by name, still before any tensor exists.
    const wide = join(dir, 'wide.safetensors');
    await writeFile(
      wide,
      encodeCheckpointHost(
        { step: { dtype: 'int64', shape: [1], data: new BigInt64Array([2n ** 40n]) } },
        {},
      ),
    );
    await expect(loadCheckpoint(wide)).rejects.toThrow(
      /'step': element 0 \(1099511627776\) is outside the int32 range/,
    );
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

const host = (shape: number[]): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => i + 1) };
};

class Tiny extends Module {
  constructor() {
    super();
    this.registerParameter('w', tf.zeros([4, 3]), { layout: 'linear' });
    this.registerParameter('b', tf.zeros([3]));
  }
}

describe('diffKeys', () => {
  it('reports missing, unexpected and shape-mismatched keys against a module', () => {
    const m = new Tiny();
    const d = diffKeys(m.stateDictShapes(), { w: host([4, 3]), extra: host([1]) });
    expect(d).toEqual({
      missing: ['b'],
      unexpected: ['extra'],
      mismatched: [{ key: 'w', expected: [3, 4], actual: [4, 3] }],
    });
    expect(diffKeys(['a', 'b'], new Set(['b', 'c']))).toEqual({
      missing: ['a'],
      unexpected: ['c'],
      mismatched: [],
    });
    m.dispose();
  });
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const c = Uint8Array.from(bytes);
  c[at] ^= 0x10;
  return c;
}

function flipText(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const i = text.indexOf(from);
  if (i < 0) throw new Error(`flipText: '${from}' not found`);
  return Uint8Array.from(Buffer.from(text.slice(0, i) + to + text.slice(i + from.length), 'latin1'));
}
