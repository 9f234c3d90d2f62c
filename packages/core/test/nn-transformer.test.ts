import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Attention,
  Block,
  createRng,
  Mlp,
  matMulNT,
  RotaryEmbedding2d,
  rope2dAngles,
  SwiGLU,
  setupBackend,
  swigluHidden,
} from '../src/index.node.js';
import { expectAllClose, gradCheck, randomizeParams } from './nn-gradcheck.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

type M = number[][];
const matmulT = (a: M, w: M, b?: number[]): M =>
  a.map((r) => w.map((wo, o) => (b ? b[o] : 0) + r.reduce((s, v, k) => s + v * wo[k], 0)));

/** LightningDiT's interleaved rotate_half and rope, written from the reference formulas. */
function refRope(x: number[], r: number, c: number, headDim: number, theta = 10000): number[] {
  const half = headDim / 2;
  const angle = (j: number) => {
    const pos = j < half ? r : c;
    const i = Math.floor((j % half) / 2);
    return pos / theta ** ((2 * i) / half);
  };
  return x.map((v, j) => {
    const rot = j % 2 === 0 ? -x[j + 1] : x[j - 1];
    return v * Math.cos(angle(j)) + rot * Math.sin(angle(j));
  });
}

/** Attention for one image, head by head, from the PyTorch-layout state dict. */
function refAttention(
  x: M,
  sd: Record<string, tf.Tensor>,
  heads: number,
  opts: { grid?: number; qkNormEps?: number; rms?: boolean } = {},
): M {
  const dim = x[0].length;
  const d = dim / heads;
  const qkv = matmulT(x, sd['qkv.weight'].arraySync() as M, Array.from(sd['qkv.bias'].dataSync()));
  const norm = (v: number[], w?: number[], b?: number[]) => {
    if (opts.qkNormEps === undefined) return v;
    const mean = opts.rms ? 0 : v.reduce((a, t) => a + t, 0) / v.length;
    const variance = v.reduce((a, t) => a + (t - mean) ** 2, 0) / v.length;
    return v.map(
      (t, i) => ((t - mean) / Math.sqrt(variance + opts.qkNormEps!)) * (w?.[i] ?? 1) + (b?.[i] ?? 0),
    );
  };
  const qw = sd['q_norm.weight'] ? Array.from(sd['q_norm.weight'].dataSync()) : undefined;
  const qb = sd['q_norm.bias'] ? Array.from(sd['q_norm.bias'].dataSync()) : undefined;
  const kw = sd['k_norm.weight'] ? Array.from(sd['k_norm.weight'].dataSync()) : undefined;
  const kb = sd['k_norm.bias'] ? Array.from(sd['k_norm.bias'].dataSync()) : undefined;
  const out: M = x.map(() => new Array(dim).fill(0));
  for (let h = 0; h < heads; h++) {
    const pick = (which: number, n: number) => qkv[n].slice(which * dim + h * d, which * dim + (h + 1) * d);
    const rope = (v: number[], n: number) =>
      opts.grid ? refRope(v, Math.floor(n / opts.grid), n % opts.grid, d) : v;
    const q = x.map((_, n) => rope(norm(pick(0, n), qw, qb), n));
    const k = x.map((_, n) => rope(norm(pick(1, n), kw, kb), n));
    const v = x.map((_, n) => pick(2, n));
    for (let i = 0; i < x.length; i++) {
      const s = k.map((kj) => kj.reduce((a, t, c) => a + t * q[i][c], 0) / Math.sqrt(d));
      const mx = Math.max(...s);
      const e = s.map((t) => Math.exp(t - mx));
      const z = e.reduce((a, t) => a + t, 0);
      for (let c = 0; c < d; c++) out[i][h * d + c] = e.reduce((a, t, j) => a + (t / z) * v[j][c], 0);
    }
  }
  return matmulT(out, sd['proj.weight'].arraySync() as M, Array.from(sd['proj.bias'].dataSync()));
}

describe('RotaryEmbedding2d', () => {
  it('builds LightningDiT / EVA frequencies: rows in the first half, columns in the second, pairs repeated', () => {
    const ang = rope2dAngles(8, [3, 3]);
    const at = (n: number, j: number) => ang[n * 8 + j];
    // headDim 8 -> half 4 -> frequencies 10000^0 and 10000^(-2/4).
    const f1 = 10000 ** -0.5;
    const n = 2 * 3 + 1; // row 2, column 1
    expect([at(n, 0), at(n, 1), at(n, 2), at(n, 3)]).toEqual([2, 2, 2 * f1, 2 * f1]);
    expect([at(n, 4), at(n, 5), at(n, 6), at(n, 7)]).toEqual([1, 1, f1, f1]);
    // pt_seq_len rescales positions: k / len * pt.
    const scaled = rope2dAngles(8, [4, 4], 10000, [2, 2]);
    expect(scaled[(3 * 4 + 1) * 8]).toBeCloseTo(1.5, 12);
    const rope = new RotaryEmbedding2d(8, 3);
    expect(rope.stateDictShapes()).toEqual({});
    expectAllClose(
      Array.from(rope.freqsCos.dataSync()).slice(n * 8, n * 8 + 8),
      Array.from({ length: 8 }, (_, j) => Math.cos(at(n, j))),
      1e-6,
    );
    rope.dispose();
  });

  it('rotates adjacent channel pairs like the reference rotate_half, and has a correct gradient', () => {
    const rope = new RotaryEmbedding2d(8, [2, 3]);
    const x = createRng(1).normal([2, 6, 8]);
    const y = rope.forward(x).arraySync() as number[][][];
    const xs = x.arraySync() as number[][][];
    for (let b = 0; b < 2; b++)
      for (let n = 0; n < 6; n++)
        expectAllClose(y[b][n], refRope(xs[b][n], Math.floor(n / 3), n % 3, 8), 1e-5);
    expect(gradCheck((t) => rope.forward(t), x, [])).toBe(4);
    expect(() => rope.forward(tf.zeros([2, 5, 8]))).toThrow(/\[\.\.\., 6, 8\]/);
    expect(() => new RotaryEmbedding2d(6, 2)).toThrow(/multiple of 4/);
    x.dispose();
    rope.dispose();
  });
});

describe('Attention', () => {
  const cases: { name: string; qkNorm?: 'layernorm' | 'rmsnorm'; rope?: boolean }[] = [
    { name: 'plain' },
    { name: 'qk layernorm + rope', qkNorm: 'layernorm', rope: true },
    { name: 'qk rmsnorm', qkNorm: 'rmsnorm' },
  ];
  for (const c of cases) {
    it(`matches a per-head reference (${c.name})`, () => {
      const grid = 2;
      const rope = c.rope ? new RotaryEmbedding2d(4, grid) : undefined;
      const attn = new Attention(8, 2, { rng: createRng(2), qkNorm: c.qkNorm ?? false, rope });
      randomizeParams(attn.namedParameters());
      const x = createRng(3).normal([2, 4, 8]);
      const y = attn.forward(x).arraySync() as number[][][];
      const sd = attn.stateDict();
      const xs = x.arraySync() as number[][][];
      const eps = c.qkNorm === 'rmsnorm' ? 1e-6 : 1e-5;
      for (let b = 0; b < 2; b++) {
        const want = refAttention(xs[b], sd, 2, {
          grid: c.rope ? grid : undefined,
          qkNormEps: c.qkNorm ? eps : undefined,
          rms: c.qkNorm === 'rmsnorm',
        });
        expectAllClose(y[b].flat(), want.flat(), 1e-4, 1e-4);
      }
      tf.dispose([x, ...Object.values(sd)]);
      attn.dispose();
      rope?.dispose();
    });
  }

  it('has correct gradients (with qk-norm and rope)', () => {
    const rope = new RotaryEmbedding2d(4, 2);
    const attn = new Attention(8, 2, { rng: createRng(4), qkNorm: 'layernorm', rope });
    randomizeParams(attn.namedParameters(), 8, 0.4);
    const x = createRng(5).normal([2, 4, 8]);
    const n = gradCheck((t) => attn.forward(t), x, attn.parameters(), { coords: 3 });
    expect(n).toBe(3 * (1 + attn.parameters().length));
    x.dispose();
    attn.dispose();
    rope.dispose();
  });

  it('matMulNT is a @ b^T with a correct gradient in both operands', () => {
    const a = createRng(20).normal([2, 3, 4, 5]);
    const b = createRng(21).normal([2, 3, 6, 5]);
    const want = tf.matMul(a, b, false, true);
    expectAllClose(Array.from(matMulNT(a, b).dataSync()), Array.from(want.dataSync()), 1e-5);
    expect(gradCheck((t) => matMulNT(t, b), a, [])).toBe(4);
    expect(gradCheck((t) => matMulNT(a, t), b, [])).toBe(4);
    expect(() => matMulNT(a, tf.zeros([2, 3, 6, 4]))).toThrow(/matMulNT/);
    tf.dispose([a, b, want]);
  });

  it('names its parts like timm / LightningDiT and lays qkv out as [3C, C]', () => {
    const attn = new Attention(8, 2, { rng: createRng(1), qkNorm: 'rmsnorm' });
    expect(attn.stateDictShapes()).toEqual({
      'qkv.weight': [24, 8],
      'qkv.bias': [24],
      'q_norm.weight': [4],
      'k_norm.weight': [4],
      'proj.weight': [8, 8],
      'proj.bias': [8],
    });
    expect(attn.scale).toBe(0.5);
    const noBias = new Attention(8, 2, { rng: createRng(1), qkvBias: false });
    expect(Object.keys(noBias.stateDictShapes())).toEqual(['qkv.weight', 'proj.weight', 'proj.bias']);
    attn.dispose();
    noBias.dispose();
  });

  it('rejects bad input by name', () => {
    expect(() => new Attention(8, 3, { rng: createRng(1) })).toThrow(/divisor of dim/);
    const attn = new Attention(8, 2, { rng: createRng(1) });
    expect(() => attn.forward(tf.zeros([4, 8]))).toThrow(/\[B, N, 8\]/);
    const rope = new RotaryEmbedding2d(4, 3);
    expect(() => attn.forward(tf.zeros([1, 4, 8]), rope)).toThrow(/rope is for 9 tokens/);
    expect(() => new Attention(8, 1, { rng: createRng(1), rope })).toThrow(/rope.headDim/);
    attn.dispose();
    rope.dispose();
  });
});

describe('Mlp and SwiGLU', () => {
  it('Mlp is fc2(gelu(fc1 x)) with exact GELU', () => {
    const mlp = new Mlp(3, 5, { rng: createRng(6) });
    randomizeParams(mlp.namedParameters());
    const sd = mlp.stateDict();
    expect(sd['fc1.weight'].shape).toEqual([5, 3]);
    const x = createRng(7).normal([4, 3]);
    const h = matmulT(
      x.arraySync() as M,
      sd['fc1.weight'].arraySync() as M,
      Array.from(sd['fc1.bias'].dataSync()),
    );
    const g = h.map((r) => r.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))));
    const want = matmulT(g, sd['fc2.weight'].arraySync() as M, Array.from(sd['fc2.bias'].dataSync()));
    expectAllClose(Array.from(mlp.forward(x).dataSync()), want.flat(), 1e-4, 1e-4);
    expect(gradCheck((t) => mlp.forward(t), x, mlp.parameters(), { coords: 3 })).toBe(15);
    tf.dispose([x, ...Object.values(sd)]);
    mlp.dispose();
  });

  it("SwiGLU is w3(silu(a) * b) with [a, b] = w12 x, and LightningDiT's hidden width", () => {
    expect([192, 384, 768, 1024, 1152, 100].map((d) => swigluHidden(d))).toEqual([
      512, 1024, 2048, 2730, 3072, 266,
    ]);
    const sw = new SwiGLU(3, 4, { rng: createRng(8) });
    randomizeParams(sw.namedParameters());
    const sd = sw.stateDict();
    expect(sw.stateDictShapes()).toEqual({
      'w12.weight': [8, 3],
      'w12.bias': [8],
      'w3.weight': [3, 4],
      'w3.bias': [3],
    });
    const x = createRng(9).normal([2, 3]);
    const h = matmulT(
      x.arraySync() as M,
      sd['w12.weight'].arraySync() as M,
      Array.from(sd['w12.bias'].dataSync()),
    );
    const gated = h.map((r) => r.slice(0, 4).map((a, i) => (a / (1 + Math.exp(-a))) * r[4 + i]));
    const want = matmulT(gated, sd['w3.weight'].arraySync() as M, Array.from(sd['w3.bias'].dataSync()));
    expectAllClose(Array.from(sw.forward(x).dataSync()), want.flat(), 1e-4, 1e-4);
    expect(gradCheck((t) => sw.forward(t), x, sw.parameters(), { coords: 3 })).toBe(15);
    tf.dispose([x, ...Object.values(sd)]);
    sw.dispose();
  });
});

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a reference; integrate the series instead.
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('Block', () => {
  it('has the MAE / timm state-dict names and PyTorch shapes; decay only on matrices', () => {
    const blk = new Block(8, 2, { rng: createRng(1) });
    expect(blk.stateDictShapes()).toEqual({
      'norm1.weight': [8],
      'norm1.bias': [8],
      'attn.qkv.weight': [24, 8],
      'attn.qkv.bias': [24],
      'attn.proj.weight': [8, 8],
      'attn.proj.bias': [8],
      'norm2.weight': [8],
      'norm2.bias': [8],
      'mlp.fc1.weight': [32, 8],
      'mlp.fc1.bias': [32],
      'mlp.fc2.weight': [8, 32],
      'mlp.fc2.bias': [8],
    });
    expect([...blk.decayParameterNames()].sort()).toEqual([
      'attn.proj.weight',
      'attn.qkv.weight',
      'mlp.fc1.weight',
      'mlp.fc2.weight',
    ]);
    expect((blk.norm1 as { eps: number }).eps).toBe(1e-6);
    const ldit = new Block(8, 2, { rng: createRng(1), norm: 'rmsnorm', qkNorm: 'rmsnorm', ffn: 'swiglu' });
    expect(Object.keys(ldit.stateDictShapes())).toEqual([
      'norm1.weight',
      'attn.qkv.weight',
      'attn.qkv.bias',
      'attn.q_norm.weight',
      'attn.k_norm.weight',
      'attn.proj.weight',
      'attn.proj.bias',
      'norm2.weight',
      'mlp.w12.weight',
      'mlp.w12.bias',
      'mlp.w3.weight',
      'mlp.w3.bias',
    ]);
    expect(ldit.stateDictShapes()['mlp.w3.weight']).toEqual([8, swigluHidden(8)]);
    blk.dispose();
    ldit.dispose();
  });

  it('is x + attn(norm1 x), then + mlp(norm2 .)', () => {
    const blk = new Block(8, 2, { rng: createRng(2) });
    randomizeParams(blk.namedParameters());
    const x = createRng(3).normal([2, 4, 8]);
    const want = tf.tidy(() => {
      const h = tf.add(x, blk.attn.forward(blk.norm1.forward(x)));
      return tf.add(h, blk.mlp.forward(blk.norm2.forward(h)));
    });
    const got = blk.forward(x);
    expectAllClose(Array.from(got.dataSync()), Array.from(want.dataSync()), 1e-6);
    tf.dispose([x, want, got]);
    blk.dispose();
  });

  it('has correct gradients', () => {
    const rope = new RotaryEmbedding2d(4, 2);
    const blk = new Block(8, 2, { rng: createRng(4), rope, qkNorm: 'layernorm' });
    randomizeParams(blk.namedParameters(), 9, 0.4);
    const x = createRng(5).normal([2, 4, 8]);
    const n = gradCheck((t) => blk.forward(t), x, blk.parameters(), { coords: 2 });
    expect(n).toBe(2 * (1 + blk.parameters().length));
    x.dispose();
    blk.dispose();
    rope.dispose();
  });

  it('round-trips its state dict into a differently seeded block', () => {
    const a = new Block(8, 2, { rng: createRng(10) });
    const b = new Block(8, 2, { rng: createRng(11) });
    randomizeParams(a.namedParameters(), 12);
    const x = createRng(13).normal([1, 4, 8]);
    const ya = a.forward(x);
    const yb0 = b.forward(x);
    expect(Math.max(...Array.from(tf.abs(tf.sub(ya, yb0)).dataSync()))).toBeGreaterThan(1e-3);
    const sd = a.stateDict();
    expect(b.loadStateDict(sd)).toEqual({ missing: [], unexpected: [] });
    const yb = b.forward(x);
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
    const sd2 = b.stateDict();
    for (const k of Object.keys(sd))
      expect(Array.from(sd2[k].dataSync())).toEqual(Array.from(sd[k].dataSync()));
    tf.dispose([x, ya, yb0, yb, ...Object.values(sd), ...Object.values(sd2)]);
    a.dispose();
    b.dispose();
  });

  it('rejects bad options and input', () => {
    expect(() => new Block(8, 2, { rng: createRng(1), ffn: 'moe' as never })).toThrow(/ffn/);
    expect(() => new Block(8, 2, { rng: createRng(1), mlpRatio: 0 })).toThrow(/mlpRatio/);
    const blk = new Block(8, 2, { rng: createRng(1) });
    expect(() => blk.forward(tf.zeros([2, 4, 6]))).toThrow(/Block.forward: x must have shape \[B, N, 8\]/);
    blk.dispose();
  });
});
