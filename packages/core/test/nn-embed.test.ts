import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  get2dSincosPosEmbed,
  resizePosEmbed,
  setupBackend,
  TimestepEmbedder,
  timestepEmbedding,
} from '../src/index.node.js';
import { expectAllClose, gradCheck, randomizeParams } from './nn-gradcheck.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

describe('get2dSincosPosEmbed', () => {
  it("follows MAE's formula: column in the first half, row in the second, sin then cos", () => {
    const D = 8;
    const g = 3;
    const pe = get2dSincosPosEmbed(D, g);
    expect(pe.length).toBe(g * g * D);
    // D/4 = 2 frequencies: omega_k = 1 / 10000^(k / 2).
    const om = [1, 1 / 100];
    for (const [r, c] of [
      [0, 0],
      [2, 1],
      [1, 2],
    ]) {
      const row = Array.from(pe.subarray((r * g + c) * D, (r * g + c + 1) * D));
      const want = [
        Math.sin(c * om[0]),
        Math.sin(c * om[1]),
        Math.cos(c * om[0]),
        Math.cos(c * om[1]),
        Math.sin(r * om[0]),
        Math.sin(r * om[1]),
        Math.cos(r * om[0]),
        Math.cos(r * om[1]),
      ];
      expectAllClose(row, want, 1e-7);
    }
    // Position (row 1, column 2) of a 4-wide embedding is [sin 2, cos 2, sin 1, cos 1].
    const small = get2dSincosPosEmbed(4, [2, 3]);
    expectAllClose(
      Array.from(small.subarray(5 * 4, 6 * 4)),
      [Math.sin(2), Math.cos(2), Math.sin(1), Math.cos(1)],
      1e-7,
    );
  });

  it('prepends a zero class-token row and rejects bad sizes', () => {
    const pe = get2dSincosPosEmbed(8, 2, { clsToken: true });
    expect(pe.length).toBe(5 * 8);
    expect(Array.from(pe.subarray(0, 8))).toEqual(new Array(8).fill(0));
    expect(Array.from(pe.subarray(8, 16))).toEqual(Array.from(get2dSincosPosEmbed(8, 2).subarray(0, 8)));
    expect(() => get2dSincosPosEmbed(6, 2)).toThrow(/multiple of 4/);
    expect(() => get2dSincosPosEmbed(8, 0)).toThrow(/gridSize/);
  });
});

describe('resizePosEmbed', () => {
  it("matches PyTorch's bilinear interpolate (align_corners=False) and keeps extra tokens", () => {
    // One channel holding [[0, 1], [2, 3]], plus one class token row.
    const pe = tf.tensor3d([[[9], [0], [1], [2], [3]]]);
    const out = resizePosEmbed(pe, 2, 4, { extraTokens: 1 });
    expect(out.shape).toEqual([1, 17, 1]);
    const v = Array.from(out.dataSync());
    expect(v[0]).toBe(9);
    // torch.nn.functional.interpolate(t, size=(4, 4), mode='bilinear', align_corners=False)
    const want = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3];
    expectAllClose(v.slice(1), want, 1e-6);
    const same = resizePosEmbed(tf.tensor2d([[0], [1], [2], [3]]), 2, 2);
    expect(Array.from(same.dataSync())).toEqual([0, 1, 2, 3]);
    expect(() => resizePosEmbed(pe, 3, 4)).toThrow(/posEmbed must have shape/);
    tf.dispose([pe, out, same]);
  });
});

describe('timestepEmbedding / TimestepEmbedder', () => {
  it("is DiT's [cos(t f), sin(t f)] with f_i = exp(-ln(10000) i / half)", () => {
    const e0 = timestepEmbedding([0], 6);
    expect(Array.from(e0.dataSync())).toEqual([1, 1, 1, 0, 0, 0]);
    const t = 37.5;
    const e = timestepEmbedding(tf.tensor1d([t]), 8);
    const f = [0, 1, 2, 3].map((i) => Math.exp((-Math.log(10000) * i) / 4));
    expectAllClose(
      Array.from(e.dataSync()),
      [...f.map((x) => Math.cos(t * x)), ...f.map((x) => Math.sin(t * x))],
      2e-5,
    );
    const odd = timestepEmbedding([1, 2], 5, 100);
    expect(odd.shape).toEqual([2, 5]);
    const r = odd.arraySync();
    expect(r[1][4]).toBe(0);
    expect(r[1][0]).toBeCloseTo(Math.cos(2), 6);
    expect(r[1][3]).toBeCloseTo(Math.sin(2 * Math.exp(-Math.log(100) / 2)), 6);
    expect(() => timestepEmbedding(tf.zeros([2, 1]), 4)).toThrow(/\[B\]/);
    tf.dispose([e0, e, odd]);
  });

  it("is mlp.2(silu(mlp.0(features))) with DiT's names and init", () => {
    const te = new TimestepEmbedder(16, { rng: createRng(1) });
    expect(te.stateDictShapes()).toEqual({
      'mlp.0.weight': [16, 256],
      'mlp.0.bias': [16],
      'mlp.2.weight': [16, 16],
      'mlp.2.bias': [16],
    });
    const w = Array.from(te.mlp.first.weight.dataSync());
    const sd = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(sd).toBeGreaterThan(0.017);
    expect(sd).toBeLessThan(0.023);
    randomizeParams(te.namedParameters(), 3, 0.2);
    const t = tf.tensor1d([0, 10, 999]);
    const want = tf.tidy(() => {
      const h = te.mlp.first.forward(timestepEmbedding(t, 256));
      return te.mlp.second.forward(tf.mul(h, tf.sigmoid(h)));
    });
    expectAllClose(Array.from(te.forward(t).dataSync()), Array.from(want.dataSync()), 1e-5, 1e-5);
    const ts = tf.tensor1d([0.5, 3, 20]);
    expect(gradCheck((x) => te.forward(x), ts, te.parameters(), { coords: 3 })).toBe(15);
    tf.dispose([t, want, ts]);
    te.dispose();
  });
});
