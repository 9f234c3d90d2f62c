import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { RectifiedFlow, shiftedTimeGrid, shiftTimestep, unshiftTimestep } from '../src/index.js';
import { FnDenoiser, maxAbsDiff } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('timestep shift', () => {
  it("t' = s t / (1 + (s - 1) t)", () => {
    expect(shiftTimestep(0.5, 0.3)).toBeCloseTo(0.15 / 0.65, 14);
    expect(shiftTimestep(0.1, 0.3)).toBeCloseTo(0.03 / 0.93, 14);
    expect(shiftTimestep(0.9, 3)).toBeCloseTo(2.7 / 2.8, 14);
    for (const s of [0.3, 1, 3]) {
      expect(shiftTimestep(0, s)).toBe(0);
      expect(shiftTimestep(1, s)).toBe(1);
    }
    expect(shiftTimestep(0.37, 1)).toBe(0.37);
    expect(unshiftTimestep(shiftTimestep(0.42, 0.3), 0.3)).toBeCloseTo(0.42, 14);
  });

  it('the grid is increasing from 0 (noise) to 1 (data) and packed towards noise for s < 1', () => {
    const g = shiftedTimeGrid(10, 0.3);
    expect(g.length).toBe(11);
    expect(g[0]).toBe(0);
    expect(g[10]).toBe(1);
    for (let i = 1; i < g.length; i++) expect(g[i]).toBeGreaterThan(g[i - 1]);
    expect(g[5]).toBeCloseTo(shiftTimestep(0.5, 0.3), 14);
    expect(g[1] - g[0]).toBeLessThan(g[10] - g[9]);
  });

  it('rejects a bad shift or t', () => {
    expect(() => shiftTimestep(0.5, 0)).toThrow(/shift must be/);
    expect(() => shiftTimestep(1.5, 0.3)).toThrow(/t must be in \[0, 1\]/);
    expect(() => shiftedTimeGrid(0)).toThrow(/n must be/);
  });
});

describe('rectified flow', () => {
  it('t = 0 is noise, t = 1 is data; the target is data - noise', () => {
    const flow = new RectifiedFlow();
    const data = tf.tensor4d([1, 2, 3, 4], [2, 1, 1, 2]);
    const noise = tf.tensor4d([-1, 0, 5, 2], [2, 1, 1, 2]);
    const xt = flow.interpolate(data, noise, [0, 1]);
    expect(Array.from(xt.dataSync())).toEqual([-1, 0, 3, 4]);
    const mid = flow.interpolate(data, noise, [0.25, 0.5]);
    expect(Array.from(mid.dataSync())).toEqual([-0.5, 0.5, 4, 3]);
    const v = flow.velocity(data, noise);
    expect(Array.from(v.dataSync())).toEqual([2, 2, -2, 2]);
    tf.dispose([data, noise, xt, mid, v]);
  });

  it('logit-normal times: logit(t) has the requested mean and std; uniform covers [0, 1)', () => {
    const flow = new RectifiedFlow({ timeSampling: { kind: 'logit-normal', mu: 0.5, sigma: 0.8 } });
    const t = flow.sampleTimes(20000, createRng(1));
    const z = Array.from(t, (v) => Math.log(v / (1 - v)));
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
    expect(mean).toBeCloseTo(0.5, 1);
    expect(sd).toBeCloseTo(0.8, 1);
    const u = new RectifiedFlow({ timeSampling: { kind: 'uniform' } }).sampleTimes(20000, createRng(2));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b, 0) / u.length).toBeCloseTo(0.5, 1);
    // Same seed, same times.
    expect(Array.from(flow.sampleTimes(5, createRng(9)))).toEqual(
      Array.from(flow.sampleTimes(5, createRng(9))),
    );
  });

  it('the loss is the mean squared error to the velocity, computed by hand', () => {
    const flow = new RectifiedFlow();
    // v(x, t) = 2 x: the loss is mean((2 x_t - (x1 - x0))^2).
    const d = new FnDenoiser([1, 1, 2], (x) => tf.mul(x, 2));
    const data = tf.tensor4d([1, -1, 0.5, 2], [2, 1, 1, 2]);
    const noise = tf.tensor4d([0.2, 0.4, -1, 0], [2, 1, 1, 2]);
    const loss = flow.loss(d, data, createRng(0), { t: [0.3, 0.6], noise });
    const x1 = [1, -1, 0.5, 2];
    const x0 = [0.2, 0.4, -1, 0];
    const t = [0.3, 0.3, 0.6, 0.6];
    const want =
      x1.reduce((s, _, i) => s + (2 * (t[i] * x1[i] + (1 - t[i]) * x0[i]) - (x1[i] - x0[i])) ** 2, 0) / 4;
    expect(loss.dataSync()[0]).toBeCloseTo(want, 5);
    tf.dispose([data, noise, loss]);
  });

  it('serialises, validates and leaks nothing', () => {
    const flow = new RectifiedFlow({ timeSampling: { kind: 'logit-normal', sigma: 1.2 } });
    expect(flow.toJSON()).toEqual({
      type: 'rectified-flow',
      timeSampling: { kind: 'logit-normal', mu: 0, sigma: 1.2 },
    });
    expect(RectifiedFlow.fromConfig(flow.toJSON()).toJSON()).toEqual(flow.toJSON());
    expect(() => new RectifiedFlow({ timeSampling: { kind: 'logit-normal', sigma: 0 } })).toThrow(/sigma/);
    expect(() => new RectifiedFlow({ timeSampling: { kind: 'beta' } as never })).toThrow(/kind/);
    const d = new FnDenoiser([2, 2, 1], (x) => tf.neg(x));
    const data = tf.ones([3, 2, 2, 1]);
    const before = tf.memory().numTensors;
    const l = flow.loss(d, data, createRng(0));
    l.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const bad = tf.ones([3, 2, 2, 2]);
    expect(() => flow.interpolate(data, bad, [0, 0, 0])).toThrow(/same shape/);
    expect(() => flow.loss(d, data, createRng(0), { t: [0.5] })).toThrow(/3 times/);
    expect(maxAbsDiff(data, data)).toBe(0);
    tf.dispose([data, bad]);
  });
});
