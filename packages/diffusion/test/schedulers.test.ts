import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DDIMScheduler,
  DDPMScheduler,
  FlowEulerScheduler,
  FlowHeunScheduler,
  type Scheduler,
  sampleLoop,
  schedulerFromConfig,
  shiftTimestep,
} from '../src/index.js';
import { alphasCumprod, betaSchedule, spacedTimesteps } from '../src/schedulers/betas.js';
import { FnDenoiser, maxAbsDiff } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** Integrate with a scheduler and a velocity / epsilon function; returns host values. */
async function integrate(
  s: Scheduler,
  steps: number,
  x0: number[],
  fn: (x: tf.Tensor, t: number) => tf.Tensor,
) {
  const d = new FnDenoiser([1, 1, x0.length], (x, t) => fn(x, t[0]));
  const noise = tf.tensor4d(x0, [1, 1, 1, x0.length]);
  const out = await sampleLoop({ denoiser: d, scheduler: s, noise, steps });
  const v = Array.from(out.dataSync());
  tf.dispose([noise, out]);
  return { v, calls: d.calls };
}

describe('flow ODE solvers', () => {
  it('Euler integrates the straight-line field v = (d - x) / (1 - t) exactly, on any shifted grid', async () => {
    // The rectified flow from noise x0 to a single data point d: x_t = t d + (1 - t) x0 has constant
    // velocity d - x0, so each Euler step lands on the line exactly.
    const target = [1.5, -2, 0.25];
    const dT = tf.tensor(target, [1, 1, 1, 3]);
    for (const [steps, shift] of [
      [1, 1],
      [3, 1],
      [7, 0.3],
      [20, 3],
    ]) {
      const { v, calls } = await integrate(
        new FlowEulerScheduler({ shift }),
        steps,
        [0.3, 0.9, -1.2],
        (x, t) => tf.div(tf.sub(dT, x), 1 - t),
      );
      expect(calls).toBe(steps);
      for (const [i, val] of v.entries()) expect(val).toBeCloseTo(target[i], 5);
    }
    dT.dispose();
  });

  it('Heun is second order: the error shrinks ~4x when the steps double (Euler ~2x)', async () => {
    // dx/dt = cos(t) x, x(0) = 1 -> x(1) = exp(sin 1).
    const exact = Math.exp(Math.sin(1));
    const field = (x: tf.Tensor, t: number) => tf.mul(x, Math.cos(t));
    const err = async (s: Scheduler, n: number) => Math.abs((await integrate(s, n, [1], field)).v[0] - exact);
    const heun = [
      await err(new FlowHeunScheduler(), 4),
      await err(new FlowHeunScheduler(), 8),
      await err(new FlowHeunScheduler(), 16),
    ];
    const euler = [await err(new FlowEulerScheduler(), 8), await err(new FlowEulerScheduler(), 16)];
    expect(heun[0] / heun[1]).toBeGreaterThan(3.5);
    expect(heun[0] / heun[1]).toBeLessThan(4.5);
    expect(heun[1] / heun[2]).toBeGreaterThan(3.5);
    expect(heun[1] / heun[2]).toBeLessThan(4.5);
    expect(euler[0] / euler[1]).toBeGreaterThan(1.7);
    expect(euler[0] / euler[1]).toBeLessThan(2.3);
    expect(heun[2]).toBeLessThan(euler[1] / 10);
  });

  it('Heun calls the model at t_i and t_{i+1} of every step, on the shifted grid', () => {
    const s = new FlowHeunScheduler({ shift: 0.3 });
    s.setTimesteps(2);
    const m = shiftTimestep(0.5, 0.3);
    expect(s.timesteps).toEqual([0, m, m, 1]);
    expect(s.numInferenceSteps).toBe(2);
    expect(s.order).toBe(2);
  });

  it('explicit timesteps, addNoise and predictOriginal follow t = 0 noise, t = 1 data', () => {
    const s = new FlowEulerScheduler();
    s.setTimesteps({ timesteps: [0, 0.2, 0.7] });
    expect(s.timesteps).toEqual([0, 0.2, 0.7]);
    expect(s.sigmas).toEqual([0, 0.2, 0.7, 1]);
    expect(() => s.setTimesteps({ timesteps: [0.5, 0.2] })).toThrow(/increase strictly/);
    expect(() => s.setTimesteps({ timesteps: [0, 1] })).toThrow(/\[0, 1\)/);
    const x1 = tf.tensor4d([2, 4], [2, 1, 1, 1]);
    const x0 = tf.tensor4d([0, 0], [2, 1, 1, 1]);
    const xt = s.addNoise(x1, x0, [0.25, 1]);
    expect(Array.from(xt.dataSync())).toEqual([0.5, 4]);
    const v = tf.sub(x1, x0);
    const back = s.predictOriginal(v, 0.25, xt);
    expect(maxAbsDiff(tf.slice(back, [0], [1]), tf.slice(x1, [0], [1]))).toBeLessThan(1e-6);
    tf.dispose([x1, x0, xt, v, back]);
  });

  it('step checks order and shapes', () => {
    const s = new FlowEulerScheduler();
    const x = tf.zeros([1, 1, 1, 2]);
    expect(() => s.step(x, 0, x)).toThrow(/setTimesteps/);
    s.setTimesteps(2);
    expect(() => s.step(x, 0.5, x)).toThrow(/expected timestep 0/);
    expect(() => s.step(tf.zeros([1, 1, 1, 3]), 0, x)).toThrow(/one shape/);
    s.step(x, 0, x).dispose();
    s.step(x, 0.5, x).dispose();
    expect(() => s.step(x, 0.5, x)).toThrow(/finished/);
    x.dispose();
  });
});

describe('DDPM / DDIM', () => {
  it('beta schedules match guided-diffusion', () => {
    const lin = betaSchedule('linear', 1000);
    expect(lin[0]).toBeCloseTo(1e-4, 15);
    expect(lin[999]).toBeCloseTo(0.02, 15);
    expect(lin[500]).toBeCloseTo(1e-4 + (0.02 - 1e-4) * (500 / 999), 15);
    expect(betaSchedule('linear', 100)[0]).toBeCloseTo(1e-3, 15);
    const cos = betaSchedule('cosine', 1000);
    const f = (s: number) => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(cos[0]).toBeCloseTo(1 - f(0.001) / f(0), 15);
    expect(cos[999]).toBe(0.999);
    const ac = alphasCumprod([0.1, 0.2, 0.5]);
    expect(Array.from(ac)).toEqual([0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5]);
  });

  it('timestep spacings', () => {
    expect(spacedTimesteps(1000, 4)).toEqual([999, 666, 333, 0]);
    const l250 = spacedTimesteps(1000, 250);
    expect(l250.length).toBe(250);
    expect([l250[0], l250[1], l250.at(-1)]).toEqual([999, 995, 0]);
    expect(spacedTimesteps(1000, 10, 'leading')).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(spacedTimesteps(1000, 10, 'trailing')).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spacedTimesteps(10, 1)).toEqual([0]);
    expect(() => spacedTimesteps(10, 11)).toThrow(/steps must be/);
  });

  it('DDPM step is the posterior of the respaced process, by hand; deterministic for a seed', () => {
    const s = new DDPMScheduler({ numTrainTimesteps: 100 });
    s.setTimesteps({ timesteps: [70, 30] });
    const ab = alphasCumprod(betaSchedule('linear', 100));
    const x = tf.tensor4d([0.5, -1, 2, 0.1], [1, 1, 2, 2]);
    const eps = tf.tensor4d([0.3, 0.3, -0.7, 1.1], [1, 1, 2, 2]);
    const out = s.step(eps, 70, x, { rng: createRng(4) });
    const z = createRng(4).normalArray(4);
    const [a, p] = [ab[70], ab[30]];
    const beta = 1 - a / p;
    const xs = [0.5, -1, 2, 0.1];
    const es = [0.3, 0.3, -0.7, 1.1];
    const want = xs.map((xv, i) => {
      const x0 = (xv - Math.sqrt(1 - a) * es[i]) / Math.sqrt(a);
      const mean = ((Math.sqrt(p) * beta) / (1 - a)) * x0 + ((Math.sqrt(1 - beta) * (1 - p)) / (1 - a)) * xv;
      return mean + Math.sqrt((beta * (1 - p)) / (1 - a)) * z[i];
    });
    for (const [i, v] of Array.from(out.dataSync()).entries()) expect(v).toBeCloseTo(want[i], 5);
    // The last step adds no noise and needs no generator: it returns x0.
    const last = s.step(eps, 30, x);
    const x0 = xs.map((xv, i) => (xv - Math.sqrt(1 - ab[30]) * es[i]) / Math.sqrt(ab[30]));
    for (const [i, v] of Array.from(last.dataSync()).entries()) expect(v).toBeCloseTo(x0[i], 5);
    s.setTimesteps({ timesteps: [70, 30] });
    const again = s.step(eps, 70, x, { rng: createRng(4) });
    expect(maxAbsDiff(again, out)).toBe(0);
    s.reset();
    expect(() => s.step(eps, 70, x)).toThrow(/rng is required/);
    expect(() => betaSchedule('linear', 10)).toThrow(/>= 21/);
    tf.dispose([x, eps, out, last, again]);
  });

  it('DDIM with eta 0 is deterministic and inverts addNoise in one step', () => {
    const s = new DDIMScheduler();
    const x0 = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 7);
    const eps = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 8);
    for (const t of [10, 500, 990]) {
      const xt = s.addNoise(x0, eps, t);
      s.setTimesteps({ timesteps: [t] });
      const back = s.step(eps, t, xt);
      expect(maxAbsDiff(back, x0)).toBeLessThan(t > 900 ? 5e-3 : 1e-4);
      s.setTimesteps({ timesteps: [t] });
      const again = s.step(eps, t, xt);
      expect(maxAbsDiff(again, back)).toBe(0);
      tf.dispose([xt, back, again]);
    }
    tf.dispose([x0, eps]);
  });

  it('DDIM with the exact noise oracle of a point mass reaches the point from any noise', async () => {
    const point = [0.7, -0.4];
    const s = new DDIMScheduler({ betaSchedule: 'cosine' });
    const ab = s.alphasCumprod;
    const { v } = await integrate(s, 25, [2.1, -0.3], (x, t) =>
      tf.div(tf.sub(x, tf.mul(tf.tensor(point, [1, 1, 1, 2]), Math.sqrt(ab[t]))), Math.sqrt(1 - ab[t])),
    );
    for (const [i, val] of v.entries()) expect(val).toBeCloseTo(point[i], 3);
  });

  it('DDIM with eta 1 is the DDPM ancestral step', () => {
    const ddim = new DDIMScheduler({ eta: 1 });
    const ddpm = new DDPMScheduler();
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 1);
    const eps = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 2);
    for (const s of [ddim, ddpm]) s.setTimesteps(50);
    const t = ddim.timesteps[0];
    const a = ddim.step(eps, t, x, { rng: [createRng(3)] });
    const b = ddpm.step(eps, t, x, { rng: [createRng(3)] });
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([x, eps, a, b]);
  });

  it('explicit timesteps are validated; per-sample addNoise', () => {
    const s = new DDPMScheduler({ numTrainTimesteps: 100 });
    s.setTimesteps({ timesteps: [99, 50, 3] });
    expect(s.timesteps).toEqual([99, 50, 3]);
    expect(() => s.setTimesteps({ timesteps: [3, 50] })).toThrow(/decrease strictly/);
    expect(() => s.setTimesteps({ timesteps: [100] })).toThrow(/\[0, 100\)/);
    expect(() => s.setTimesteps({ timesteps: [2.5] })).toThrow(/integers/);
    expect(() => s.setTimesteps(0)).toThrow(/steps must be/);
    const x0 = tf.ones([2, 1, 1, 1]);
    const n = tf.zeros([2, 1, 1, 1]);
    const xt = s.addNoise(x0, n, [0, 99]);
    const ab = s.alphasCumprod;
    const got = Array.from(xt.dataSync());
    expect(got[0]).toBeCloseTo(Math.sqrt(ab[0]), 6);
    expect(got[1]).toBeCloseTo(Math.sqrt(ab[99]), 6);
    expect(() => s.addNoise(x0, n, [0, 100])).toThrow(/integers in \[0, 100\)/);
    tf.dispose([x0, n, xt]);
  });

  it('every scheduler round-trips through its config', () => {
    const all: Scheduler[] = [
      new FlowEulerScheduler({ shift: 0.3 }),
      new FlowHeunScheduler({ shift: 2 }),
      new DDPMScheduler({ betaSchedule: 'cosine', varianceType: 'fixed_large', numTrainTimesteps: 500 }),
      new DDIMScheduler({ eta: 0.5, spacing: 'trailing', clipSample: true }),
    ];
    for (const s of all) {
      const c = s.toJSON();
      expect(JSON.parse(JSON.stringify(c))).toEqual(c);
      expect(schedulerFromConfig(c).toJSON()).toEqual(c);
    }
    expect(() => schedulerFromConfig({ type: 'pndm' } as never)).toThrow(/config.type/);
    expect(() => new DDPMScheduler({ betaSchedule: 'quadratic' as never })).toThrow(/betaSchedule/);
    expect(() => new FlowEulerScheduler({ shift: -1 })).toThrow(/shift/);
  });
});
