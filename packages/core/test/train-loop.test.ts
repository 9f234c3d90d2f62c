import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself; until @ldmae/core does it centrally, the test does.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AdamW,
  type CheckpointPayload,
  createRng,
  EMA,
  Module,
  type Rng,
  setupBackend,
  type TrainProgressEvent,
  train,
  warmupCosineLr,
} from '../src/index.node.js';

/** y = x W + b, W stored [in, out] ('linear' layout: PyTorch [out, in]). */
class Affine extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(rng: Rng, inF: number, outF: number) {
    super();
    this.weight = this.registerParameter('weight', rng.normal([inF, outF], 0, 0.5), { layout: 'linear' });
    this.bias = this.registerParameter('bias', tf.zeros([outF]));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(x, this.weight), this.bias);
  }
}

interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

const IN = 4;
const OUT = 3;
const BATCH = 16;

/** A seeded toy problem: a model, its optimiser and a fixed random linear target. */
function toy(seed: number) {
  const rng = createRng(seed);
  const model = new Affine(rng, IN, OUT);
  const target = createRng(1234); // the same target for every seed
  const wStar = target.normal([IN, OUT]);
  const bStar = target.normal([OUT]);
  const data = (): Batch => {
    const x = rng.normal([BATCH, IN]);
    return { x, y: tf.tidy(() => tf.add(tf.matMul(x, wStar), bStar)) };
  };
  const lossFn = (b: Batch) => tf.mean(tf.square(tf.sub(model.forward(b.x), b.y))) as tf.Scalar;
  const optimizer = AdamW.forModule(model, { lr: 0.05, weightDecay: 0 });
  const dispose = () => {
    optimizer.dispose();
    model.dispose();
    tf.dispose([wStar, bStar]);
  };
  // The model, loss, data and optimiser of a train() call.
  const options = { model, lossFn, data, optimizer };
  return { rng, model, data, lossFn, optimizer, options, dispose };
}

function copyPayload(p: CheckpointPayload): CheckpointPayload {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(p.tensors)) tensors[k] = t.clone();
  return { tensors, metadata: { ...p.metadata } };
}

describe('train', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  it('fits a linear target: the loss falls at least 10x in 200 steps, with logs and progress', async () => {
    const t = toy(7);
    const lines: Record<string, unknown>[] = [];
    const events: TrainProgressEvent[] = [];
    const res = await train({
      model: t.model,
      lossFn: (b: Batch) => {
        const err = tf.sub(t.model.forward(b.x), b.y);
        return {
          loss: tf.mean(tf.square(err)) as tf.Scalar,
          logs: { mae: tf.mean(tf.abs(err)) as tf.Scalar, k: 1 },
        };
      },
      data: t.data,
      optimizer: t.optimizer,
      schedule: warmupCosineLr({ baseLr: 0.05, minLr: 1e-4, warmupSteps: 10, totalSteps: 200 }),
      steps: 200,
      batchSize: BATCH,
      log: (l) => lines.push(l),
      logEvery: 50,
      onProgress: (ev) => events.push(ev),
    });
    expect(res.step).toBe(200);
    expect(res.stopReason).toBe('completed');
    expect(res.losses).toHaveLength(200);
    const first = res.losses[0];
    const last = res.losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
    const factor = first / last;
    console.log(
      `toy regression: loss ${first.toExponential(3)} -> ${last.toExponential(3)} (x${factor.toFixed(0)})`,
    );
    expect(factor).toBeGreaterThanOrEqual(10);
    expect(res.lrs[0]).toBe(0);
    expect(res.lrs[10]).toBeCloseTo(0.05, 12);
    expect(lines.map((l) => l.step)).toEqual([50, 100, 150, 200]);
    expect(lines[0]).toMatchObject({ step: 50, loss: res.losses[49], lr: res.lrs[49], k: 1 });
    expect(typeof lines[0].mae).toBe('number');
    expect(typeof lines[0].images_per_sec).toBe('number');
    expect(events).toHaveLength(200);
    const ev = events[199];
    expect(ev).toMatchObject({ step: 200, steps: 200, loss: res.losses[199], etaSeconds: 0 });
    expect(ev.stepsPerSec).toBeGreaterThan(0);
    expect(ev.imagesPerSec).toBeCloseTo(ev.stepsPerSec * BATCH, 6);
    expect(ev.logs.mae).toBeGreaterThan(0);
    t.dispose();
  });

  it('keeps tensor memory flat across steps (clipping, EMA, tensor logs, checkpoints)', async () => {
    const t = toy(3);
    const ema = new EMA(t.model, { decay: 0.9 });
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    await train({
      model: t.model,
      lossFn: (b: Batch) => ({ loss: t.lossFn(b), logs: { y: tf.mean(b.y) as tf.Scalar } }),
      data: t.data,
      optimizer: t.optimizer,
      steps: 12,
      clipGradNorm: 0.5,
      ema,
      rng: t.rng,
      checkpoint: { every: 4, save: async () => {} },
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    // Measured after a warm-up step: every later step ends with the same number of tensors.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(counts[counts.length - 1]).toBe(counts[0]);
    expect(tf.memory().numTensors).toBe(before);
    ema.dispose();
    t.dispose();
  });

  it('reads a log entry that is the loss tensor itself, and frees it once', async () => {
    const t = toy(5);
    const before = tf.memory().numTensors;
    const logged: number[] = [];
    const result = await train({
      model: t.model,
      lossFn: (b: Batch) => {
        const loss = t.lossFn(b);
        return { loss, logs: { mse: loss } };
      },
      data: t.data,
      optimizer: t.optimizer,
      steps: 3,
      log: (line) => logged.push(line.mse as number),
    });
    expect(logged).toEqual(result.losses);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('stops on a NaN loss with a clear error, without updating the model or saving after it', async () => {
    const t = toy(5);
    const saved: number[] = [];
    let weightsAfter7: number[] = [];
    const n0 = tf.memory().numTensors;
    const run = train({
      model: t.model,
      lossFn: (b: Batch, step) => {
        const l = t.lossFn(b);
        return step === 7 ? (tf.mul(l, Number.NaN) as tf.Scalar) : l;
      },
      data: t.data,
      optimizer: t.optimizer,
      steps: 20,
      rng: t.rng,
      checkpoint: { every: 5, save: async (p) => void saved.push(Number(p.metadata.step)) },
      onProgress: (ev) => {
        if (ev.step === 7) weightsAfter7 = Array.from(t.model.weight.dataSync());
      },
    });
    await expect(run).rejects.toThrow(
      /loss is NaN at step 7 .*model was not updated.*no checkpoint was saved after it.*last good checkpoint \(step 5\) was kept/,
    );
    expect(saved).toEqual([5]);
    expect(Array.from(t.model.weight.dataSync())).toEqual(weightsAfter7);
    expect(t.optimizer.stepCount).toBe(7);
    expect(tf.memory().numTensors).toBe(n0);
    t.dispose();
  });

  it('resumes exactly from an in-memory checkpoint payload', async () => {
    const common = {
      steps: 20,
      clipGradNorm: 1,
      schedule: warmupCosineLr({ baseLr: 0.05, warmupSteps: 3, totalSteps: 20 }),
    };
    // Uninterrupted run.
    const a = toy(11);
    const emaA = new EMA(a.model, { decay: 0.8 });
    const resA = await train({
      ...common,
      ...a.options,
      ema: emaA,
      rng: a.rng,
    });

    // Interrupted at step 10 (default onStop save), then continued by fresh objects of another seed.
    const b = toy(11);
    const emaB = new EMA(b.model, { decay: 0.8 });
    let payload: CheckpointPayload | undefined;
    const save = async (p: CheckpointPayload) => {
      if (payload) tf.dispose(Object.values(payload.tensors));
      payload = copyPayload(p);
    };
    const resB = await train({
      ...common,
      steps: 10,
      ...b.options,
      ema: emaB,
      rng: b.rng,
      checkpoint: { every: 100, save },
    });
    expect(resB.lastCheckpointStep).toBe(10);
    expect(payload?.metadata.step).toBe('10');

    const c = toy(99);
    const emaC = new EMA(c.model, { decay: 0.5 });
    const resC = await train({
      ...common,
      ...c.options,
      ema: emaC,
      rng: c.rng,
      resume: payload,
    });
    expect(resC.step).toBe(20);
    expect(resC.losses).toHaveLength(10);
    expect([...resB.losses, ...resC.losses]).toEqual(resA.losses);
    expect(Array.from(c.model.weight.dataSync())).toEqual(Array.from(a.model.weight.dataSync()));
    const shadow = (e: EMA) => Array.from(new Map(e.namedShadows()).get('weight')!.dataSync());
    expect(shadow(emaC)).toEqual(shadow(emaA));
    expect(emaC.decay).toBe(0.8);

    // Resuming at the final step runs nothing and saves nothing.
    let saves = 0;
    const resD = await train({
      ...common,
      steps: 10,
      ...c.options,
      ema: emaC,
      rng: c.rng,
      resume: payload,
      checkpoint: { every: 1, save: async () => void saves++ },
    });
    expect(resD).toMatchObject({ step: 10, losses: [], stopReason: 'completed', lastCheckpointStep: null });
    expect(saves).toBe(0);
    tf.dispose(Object.values(payload!.tensors));
    for (const x of [emaA, emaB, emaC]) x.dispose();
    for (const x of [a, b, c]) x.dispose();
  });

  it('makes and disposes an optimiser from AdamW options, and opens an OpenAtStep source at the resumed step', async () => {
    const a = toy(5);
    const before = tf.memory().numTensors;
    const opened: number[] = [];
    let payload: CheckpointPayload | undefined;
    const run = (steps: number, resume?: CheckpointPayload) =>
      train({
        model: a.model,
        lossFn: a.lossFn,
        data: {
          open: (start: number) => {
            opened.push(start);
            return a.data;
          },
        },
        optimizer: { params: a.model.namedParameters(), lr: 0.05, weightDecay: 0 },
        steps,
        resume,
        checkpoint: {
          every: 100,
          save: async (p) => {
            if (payload) tf.dispose(Object.values(payload.tensors)); // resume has read it by now
            payload = copyPayload(p);
          },
        },
      });
    await run(3);
    await run(5, payload);
    expect(opened).toEqual([0, 3]);
    expect(payload?.metadata.step).toBe('5');
    tf.dispose(Object.values(payload!.tensors));
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });

  it('stops between steps on abort and saves a checkpoint there', async () => {
    const t = toy(2);
    const ac = new AbortController();
    const saved: number[] = [];
    const res = await train({
      ...t.options,
      steps: 50,
      signal: ac.signal,
      checkpoint: { every: 100, save: async (p) => void saved.push(Number(p.metadata.step)) },
      onProgress: (ev) => {
        if (ev.step === 3) ac.abort();
      },
    });
    expect(res).toMatchObject({ step: 3, stopReason: 'aborted', lastCheckpointStep: 3 });
    expect(saved).toEqual([3]);
    t.dispose();
  });

  describe('maxSeconds', () => {
    // A clock the test drives: every batch read takes one second.
    let clock = 0;
    const tick =
      <B>(data: () => B) =>
      () => {
        clock += 1000;
        return data();
      };
    const schedule = warmupCosineLr({ baseLr: 0.1, minLr: 0.01, warmupSteps: 5, totalSteps: 100 });
    afterEach(() => vi.restoreAllMocks());
    const useClock = () => vi.spyOn(performance, 'now').mockImplementation(() => clock);

    it('reads the schedule at the share of the budget used and stops when it is used up', async () => {
      useClock();
      const t = toy(3);
      const saved: CheckpointPayload[] = [];
      const res = await train({
        ...t.options,
        data: tick(t.data),
        steps: 100,
        maxSeconds: 10,
        schedule,
        checkpoint: { every: 4, save: async (p) => void saved.push(copyPayload(p)) },
      });
      // Before step k, k seconds of 10 are used: progress k / 10 runs ahead of k / 100.
      expect(res).toMatchObject({ step: 10, stopReason: 'time-limit', lastCheckpointStep: 10 });
      expect(res.lrs).toEqual(Array.from({ length: 10 }, (_, k) => schedule(10 * k)));
      expect(saved.map((p) => [p.metadata.step, Number(p.metadata.progress)])).toEqual([
        ['4', 0.4],
        ['8', 0.8],
        ['10', 1],
      ]);
      // Resumed from step 4 (progress 0.4), the call has the 6 seconds the run had left.
      const resumed = await train({
        ...t.options,
        data: tick(t.data),
        steps: 100,
        maxSeconds: 10,
        schedule,
        resume: saved[0],
      });
      expect(resumed).toMatchObject({ step: 10, stopReason: 'time-limit' });
      expect(resumed.lrs).toEqual([40, 50, 60, 70, 80, 90].map((s) => schedule(s)));
      for (const p of saved) tf.dispose(Object.values(p.tensors));
      t.dispose();
    });

    it('follows the steps when they run out first, and rejects a bad budget or progress', async () => {
      useClock();
      const t = toy(5);
      const res = await train({ ...t.options, data: tick(t.data), steps: 20, maxSeconds: 1000, schedule });
      expect(res.stopReason).toBe('completed');
      expect(res.lrs).toEqual(Array.from({ length: 20 }, (_, k) => schedule(k)));
      await expect(train({ ...t.options, steps: 5, maxSeconds: 0 })).rejects.toThrow(
        /train: maxSeconds must be a finite number > 0, got 0/,
      );
      const saved: CheckpointPayload[] = [];
      await train({
        ...t.options,
        steps: 1,
        checkpoint: { every: 1, save: async (p) => void saved.push(copyPayload(p)) },
      });
      const bad = saved[0] as CheckpointPayload;
      bad.metadata.progress = '1.5';
      await expect(train({ ...t.options, steps: 5, maxSeconds: 1, resume: bad })).rejects.toThrow(
        /train: checkpoint metadata.progress must be a number in \[0, 1\], got "1.5"/,
      );
      tf.dispose(Object.values(bad.tensors));
      t.dispose();
    });
  });

  it('reads iterables and async iterables, disposes their batches, and reports running out', async () => {
    const t = toy(4);
    const batches = [t.data(), t.data(), t.data()];
    const res = await train({
      ...t.options,
      data: batches,
      steps: 10,
    });
    expect(res).toMatchObject({ step: 3, stopReason: 'data-exhausted' });
    expect(batches.every((b) => b.x.isDisposed && b.y.isDisposed)).toBe(true);

    let closed = false;
    async function* gen() {
      try {
        for (;;) yield t.data();
      } finally {
        closed = true;
      }
    }
    const res2 = await train({
      ...t.options,
      data: gen(),
      steps: 5,
    });
    expect(res2).toMatchObject({ step: 5, stopReason: 'completed' });
    expect(closed).toBe(true);

    // disposeBatch: false keeps a reused batch alive.
    const fixed = t.data();
    await train({
      ...t.options,
      data: () => fixed,
      steps: 2,
      disposeBatch: false,
    });
    expect(fixed.x.isDisposed).toBe(false);
    tf.dispose([fixed.x, fixed.y]);
    t.dispose();
  });

  it('rejects bad options before any step', async () => {
    const t = toy(8);
    const stranger = new Affine(createRng(0), 2, 2);
    const foreign = AdamW.forModule(stranger, { lr: 0.1 });
    await expect(train({ ...t.options, optimizer: foreign, steps: 1 })).rejects.toThrow(
      /optimizer parameter 'weight' is not a trainable parameter of the model/,
    );
    await expect(train({ ...t.options, steps: -1 })).rejects.toThrow(/steps must be an integer >= 0/);
    await expect(train({ ...t.options, steps: 1, clipGradNorm: 0 })).rejects.toThrow(/clipGradNorm must be/);
    await expect(train({ ...t.options, steps: 1, data: 5 as never })).rejects.toThrow(/data must be/);
    await expect(
      train({ ...t.options, steps: 1, lossFn: (b: Batch) => ({ loss: t.lossFn(b), logs: { loss: 1 } }) }),
    ).rejects.toThrow(/log name 'loss' is reserved/);
    expect(t.optimizer.stepCount).toBe(0);
    foreign.dispose();
    stranger.dispose();
    t.dispose();
  });
});
