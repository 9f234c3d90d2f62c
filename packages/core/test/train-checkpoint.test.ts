import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AdamW,
  CHECKPOINT_FORMAT,
  type CheckpointPayload,
  createRng,
  disposeCheckpointPayload,
  EMA,
  Module,
  makeCheckpointPayload,
  type Rng,
  restoreCheckpointPayload,
  setupBackend,
} from '../src/index.node.js';

class Affine extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(rng: Rng) {
    super();
    this.weight = this.registerParameter('weight', rng.normal([3, 2]), { layout: 'linear' });
    this.bias = this.registerParameter('bias', rng.normal([2]));
  }
}

class Net extends Module {
  readonly fc: Affine;
  constructor(rng: Rng) {
    super();
    this.fc = this.registerModule('fc', new Affine(rng));
    this.registerBuffer('pos', rng.normal([4]));
  }
}

/** A model, optimiser, EMA and rng with some history, all derived from `seed`. */
function state(seed: number) {
  const rng = createRng(seed);
  const model = new Net(rng);
  const optimizer = AdamW.forModule(model, { lr: 0.01 });
  const ema = new EMA(model, { decay: 0.9 });
  for (let i = 0; i < 2; i++) {
    const g = { 'fc.weight': rng.normal([3, 2]), 'fc.bias': rng.normal([2]) };
    optimizer.step(g);
    ema.update();
    tf.dispose(Object.values(g));
  }
  const dispose = () => {
    ema.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { rng, model, optimizer, ema, dispose };
}

/** Read a dict of tensors to arrays and dispose it. */
function values(d: Record<string, tf.Tensor>): Record<string, number[]> {
  const out = Object.fromEntries(Object.entries(d).map(([k, t]) => [k, Array.from(t.dataSync())]));
  tf.dispose(Object.values(d));
  return out;
}

describe('checkpoint payload', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  it('names tensors by part and records step, rng, config and format', () => {
    const s = state(1);
    const p = makeCheckpointPayload({ ...s, step: 42, config: { preset: 'toy', lr: 0.01 } });
    expect(Object.keys(p.tensors).sort()).toEqual([
      'ema.fc.bias',
      'ema.fc.weight',
      'ema.pos',
      'model.fc.bias',
      'model.fc.weight',
      'model.pos',
      'optimizer.exp_avg.fc.bias',
      'optimizer.exp_avg.fc.weight',
      'optimizer.exp_avg_sq.fc.bias',
      'optimizer.exp_avg_sq.fc.weight',
    ]);
    expect(p.tensors['model.fc.weight'].shape).toEqual([2, 3]); // PyTorch [out, in]
    expect(p.tensors['ema.fc.weight'].shape).toEqual([2, 3]);
    expect(p.tensors['optimizer.exp_avg.fc.weight'].shape).toEqual([3, 2]); // the variable's own layout
    expect(p.metadata).toMatchObject({ format: CHECKPOINT_FORMAT, format_version: '1', step: '42' });
    expect(JSON.parse(p.metadata.config)).toEqual({ preset: 'toy', lr: 0.01 });
    expect(JSON.parse(p.metadata.rng)).toEqual(s.rng.getState());
    expect(JSON.parse(p.metadata.optimizer)).toMatchObject({ step: 2, lr: 0.01 });
    expect(JSON.parse(p.metadata.ema)).toEqual({ decay: 0.9, updates: 2 });
    disposeCheckpointPayload(p);
    s.dispose();
  });

  it('restores model, optimiser, EMA and rng into fresh objects exactly', () => {
    const a = state(1);
    const b = state(2);
    const p = makeCheckpointPayload({ ...a, step: 9, config: { x: 1 } });
    const n0 = tf.memory().numTensors;
    expect(restoreCheckpointPayload(p, b)).toEqual({ step: 9, config: { x: 1 } });
    expect(tf.memory().numTensors).toBe(n0);
    expect(values(b.model.stateDict())).toEqual(values(a.model.stateDict()));
    const oa = a.optimizer.getState();
    const ob = b.optimizer.getState();
    expect(values(ob.tensors)).toEqual(values(oa.tensors));
    expect(ob.json).toEqual(oa.json);
    expect(values(b.ema.stateDict())).toEqual(values(a.ema.stateDict()));
    expect(b.ema.updates).toBe(2);
    expect(b.rng.uniformArray(4)).toEqual(a.rng.uniformArray(4));
    disposeCheckpointPayload(p);
    a.dispose();
    b.dispose();
  });

  it('rejects a bad payload before assigning anything', () => {
    const a = state(1);
    const b = state(2);
    const c = state(3);
    const p = makeCheckpointPayload({ ...a, step: 3 });
    const n0 = tf.memory().numTensors;
    const before = values(b.model.stateDict());
    const optState = b.optimizer.getState();
    const optBefore = optState.json;
    tf.dispose(Object.values(optState.tensors));
    const rngBefore = b.rng.getState();
    /** A copy of `p` with metadata / tensors replaced (null removes the entry). */
    const variant = (
      meta: Record<string, string | null>,
      tensors: Record<string, tf.Tensor | null> = {},
    ): CheckpointPayload => {
      const q = { tensors: { ...p.tensors }, metadata: { ...p.metadata } };
      for (const [k, v] of Object.entries(meta)) {
        if (v === null) delete q.metadata[k];
        else q.metadata[k] = v;
      }
      for (const [k, v] of Object.entries(tensors)) {
        if (v === null) delete q.tensors[k];
        else q.tensors[k] = v;
      }
      return q;
    };
    const extra: tf.Tensor[] = [];
    const fake = (shape: number[], dtype: 'float32' | 'int32' = 'float32') => {
      const t = tf.zeros(shape, dtype);
      extra.push(t);
      return t;
    };
    const cases: [CheckpointPayload, RegExp][] = [
      [variant({ format: 'other' }), /metadata.format is "other"/],
      [variant({ format_version: '2' }), /format_version is "2", this version reads 1..1/],
      [variant({ step: '-1' }), /metadata.step must be an integer >= 0/],
      [
        variant({}, { 'optimizer.exp_avg.fc.bias': fake([3]) }),
        /'exp_avg.fc.bias' has shape \[3\], expected \[2\]/,
      ],
      [variant({}, { 'model.pos': null }), /Missing: model.pos/],
      [
        variant({}, { 'model.fc.weight': fake([3, 2]) }),
        /'model.fc.weight' has shape \[3,2\], expected \[2,3\]/,
      ],
      [variant({}, { 'ema.fc.weight': fake([3, 2]) }), /EMA.loadStateDict: 'fc.weight' has shape/],
      [variant({}, { 'other.x': fake([1]) }), /'other.x' has no known prefix/],
      [variant({ rng: null }), /an rng was given but the payload has no rng state/],
      [variant({ rng: '{"s": [1, 2]}' }), /Rng.setState/],
      [variant({ optimizer: '{bad json' }), /metadata.optimizer is not valid JSON/],
      [variant({}, { 'model.pos': fake([4], 'int32') }), /'pos' has dtype int32, expected float32/],
    ];
    for (const [q, re] of cases) {
      expect(() => restoreCheckpointPayload(q, b)).toThrow(re);
      expect(values(b.model.stateDict())).toEqual(before);
      const now = b.optimizer.getState();
      tf.dispose(Object.values(now.tensors));
      expect(now.json).toEqual(optBefore);
      expect(b.rng.getState()).toEqual(rngBefore);
    }
    tf.dispose(extra);
    expect(tf.memory().numTensors).toBe(n0);
    // The parts a caller does not pass are ignored.
    expect(restoreCheckpointPayload(p, { model: c.model }).step).toBe(3);
    expect(values(c.model.stateDict())).toEqual(values(a.model.stateDict()));
    disposeCheckpointPayload(p);
    for (const x of [a, b, c]) x.dispose();
  });
});
