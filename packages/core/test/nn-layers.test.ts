import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Conv2d,
  createRng,
  GroupNorm,
  gelu,
  geluTanh,
  LayerNorm,
  Linear,
  matMul2d,
  normal,
  RMSNorm,
  setMatMulGradMode,
  setupBackend,
  silu,
  truncNormal,
  xavierUniform,
} from '../src/index.node.js';
import { expectAllClose, gradCheck, randomizeParams } from './nn-gradcheck.js';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

const arr = (t: tf.Tensor) => Array.from(t.dataSync());
const maxAbs = (v: number[]) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('initialisers', () => {
  it('xavierUniform has the Glorot bound and variance, and is seeded', () => {
    const t = xavierUniform(createRng(1), 300, 500, [300, 500]);
    const v = arr(t);
    const b = Math.sqrt(6 / 800);
    expect(maxAbs(v)).toBeLessThanOrEqual(b * (1 + 1e-6));
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    const variance = v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length;
    expect(variance).toBeCloseTo((b * b) / 3, 4);
    const u = xavierUniform(createRng(1), 300, 500, [300, 500]);
    expect(arr(u).slice(0, 50)).toEqual(v.slice(0, 50));
    tf.dispose([t, u]);
  });

  it('normal and truncNormal have the requested spread and cut-offs', () => {
    const n = normal(createRng(2), [20000], 0.02);
    const sd = Math.sqrt(arr(n).reduce((a, x) => a + x * x, 0) / 20000);
    expect(sd).toBeCloseTo(0.02, 3);
    const t = truncNormal(createRng(3), [20000], { std: 1, a: -0.5, b: 1 });
    const tv = arr(t);
    expect(tv.reduce((m, v) => Math.min(m, v), Infinity)).toBeGreaterThanOrEqual(-0.5);
    expect(tv.reduce((m, v) => Math.max(m, v), -Infinity)).toBeLessThanOrEqual(1);
    expect(tv.reduce((m, v) => Math.min(m, v), Infinity)).toBeLessThan(-0.45);
    tf.dispose([n, t]);
  });

  it('rejects bad arguments', () => {
    expect(() => xavierUniform(createRng(1), 0, 3, [3])).toThrow(/fanIn/);
    expect(() => truncNormal(createRng(1), [2], { a: 1, b: 0 })).toThrow(/a < b/);
    expect(() => truncNormal(createRng(1), [2], { a: 50, b: 51 })).toThrow(/no mass/);
  });
});

describe('activations', () => {
  it('match closed forms', () => {
    const x = tf.tensor1d([1, -1, 0, 2.5]);
    const close = (t: tf.Tensor, want: number[]) => expectAllClose(arr(t), want, 1e-6);
    close(gelu(x), [0.8413447460685429, -0.15865525393145707, 0, 2.4844758366855597]);
    close(geluTanh(x), [0.8411919906082768, -0.15880800939172324, 0, 2.484915733910001]);
    close(silu(x), [0.7310585786300049, -0.2689414213699951, 0, 2.5 / (1 + Math.exp(-2.5))]);
    x.dispose();
  });

  it('have correct gradients', () => {
    const x = createRng(4).normal([3, 5], 0, 1.5);
    for (const f of [gelu, geluTanh, silu]) expect(gradCheck(f, x, [])).toBe(4);
    x.dispose();
  });
});

describe('Linear', () => {
  it('computes x W^T + b with W in PyTorch layout in the state dict', () => {
    const lin = new Linear(3, 2, { rng: createRng(5) });
    randomizeParams(lin.namedParameters());
    const sd = lin.stateDict();
    expect(sd.weight.shape).toEqual([2, 3]);
    const w = sd.weight.arraySync() as number[][];
    const b = arr(sd.bias);
    const x = createRng(6).normal([2, 2, 3]);
    const xs = x.arraySync() as number[][][];
    const y = lin.forward(x);
    expect(y.shape).toEqual([2, 2, 2]);
    const ys = y.arraySync() as number[][][];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++)
        for (let o = 0; o < 2; o++) {
          const want = b[o] + xs[i][j].reduce((a, v, k) => a + v * w[o][k], 0);
          expect(ys[i][j][o]).toBeCloseTo(want, 5);
        }
    tf.dispose([x, y, ...Object.values(sd)]);
    lin.dispose();
  });

  it('initialises weights xavier-uniform and the bias to zero; decay only on the weight', () => {
    const lin = new Linear(64, 32, { rng: createRng(1) });
    const b = Math.sqrt(6 / 96);
    expect(maxAbs(arr(lin.weight))).toBeLessThanOrEqual(b * (1 + 1e-6));
    expect(maxAbs(arr(lin.weight))).toBeGreaterThan(0.9 * b);
    expect(arr(lin.bias!).every((v) => v === 0)).toBe(true);
    expect([...lin.decayParameterNames()]).toEqual(['weight']);
    const torchInit = new Linear(64, 32, { rng: createRng(1), init: 'torch' });
    expect(maxAbs(arr(torchInit.bias!))).toBeLessThanOrEqual((1 / 8) * (1 + 1e-6));
    expect(maxAbs(arr(torchInit.bias!))).toBeGreaterThan(0);
    const noBias = new Linear(4, 4, { rng: createRng(1), bias: false });
    expect(Object.keys(noBias.stateDictShapes())).toEqual(['weight']);
    for (const m of [lin, torchInit, noBias]) m.dispose();
  });

  it('has correct gradients for input, weight and bias (with and without bias)', () => {
    for (const bias of [true, false]) {
      const lin = new Linear(5, 4, { rng: createRng(7), bias });
      randomizeParams(lin.namedParameters());
      const x = createRng(8).normal([2, 3, 5]);
      expect(gradCheck((t) => lin.forward(t), x, lin.parameters())).toBe(bias ? 12 : 8);
      x.dispose();
      lin.dispose();
    }
  });

  it('matMul2d backward multiplies without transpose flags (wasm XNNPACK path) and matches tf.matMul', () => {
    const a = createRng(9).normal([6, 4]);
    const b = createRng(10).normal([4, 9]);
    const dy = createRng(11).normal([6, 9]);
    const orig = tf.getKernel('BatchMatMul', 'cpu')!;
    const seen: { transposeA?: boolean; transposeB?: boolean }[] = [];
    const gradsOf = (mm: (p: tf.Tensor, q: tf.Tensor) => tf.Tensor) =>
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(mm(p, q), dy)))([a, b]);
    tf.unregisterKernel('BatchMatMul', 'cpu');
    tf.registerKernel({
      ...orig,
      kernelFunc: (args) => {
        seen.push(args.attrs as { transposeA?: boolean; transposeB?: boolean });
        return orig.kernelFunc(args);
      },
    });
    let ours: tf.Tensor[];
    let plain: tf.Tensor[];
    let plainFlags: typeof seen;
    try {
      ours = gradsOf(matMul2d);
      const oursFlags = seen.splice(0);
      expect(oursFlags.length).toBe(3);
      expect(oursFlags.every((f) => !f.transposeA && !f.transposeB)).toBe(true);
      const prev = setMatMulGradMode('tfjs');
      plain = gradsOf(matMul2d);
      setMatMulGradMode(prev);
      plainFlags = seen.splice(0);
    } finally {
      tf.unregisterKernel('BatchMatMul', 'cpu');
      tf.registerKernel(orig);
    }
    // The spy sees flags when tfjs's own gradient runs, so the check above can fail.
    expect(plainFlags.some((f) => f.transposeA || f.transposeB)).toBe(true);
    for (let k = 0; k < 2; k++) expectAllClose(arr(ours[k]), arr(plain[k]), 1e-4);
    tf.dispose([a, b, dy, ...ours, ...plain]);
  });

  it('rejects bad input by name', () => {
    const lin = new Linear(3, 2, { rng: createRng(1) });
    const x = tf.zeros([2, 4]);
    expect(() => lin.forward(x)).toThrow(/Linear.forward: x must have shape \[\.\.\., 3\], got \[2,4\]/);
    expect(() => new Linear(0, 2, { rng: createRng(1) })).toThrow(/inFeatures/);
    expect(() => new Linear(2, 2, {} as never)).toThrow(/rng/);
    expect(() => matMul2d(x, x)).toThrow(/matMul2d/);
    x.dispose();
    lin.dispose();
  });
});

/** Reference normalisations in float64 over the last axis. */
function refNorm(v: number[], eps: number, rms: boolean): number[] {
  const n = v.length;
  const mean = rms ? 0 : v.reduce((a, x) => a + x, 0) / n;
  const variance = v.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
  return v.map((x) => (x - mean) / Math.sqrt(variance + eps));
}

describe('LayerNorm / RMSNorm / GroupNorm', () => {
  it('LayerNorm matches the closed form, with PyTorch eps 1e-5 by default', () => {
    const ln = new LayerNorm(4);
    expect(ln.eps).toBe(1e-5);
    ln.weight!.assign(tf.tensor1d([1, 2, 0.5, -1]));
    ln.bias!.assign(tf.tensor1d([0, 1, -1, 0.25]));
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [0.1, -0.3, 0.2, 5],
    ]);
    const y = ln.forward(x).arraySync() as number[][];
    const xs = x.arraySync() as number[][];
    const w = [1, 2, 0.5, -1];
    const b = [0, 1, -1, 0.25];
    for (let i = 0; i < xs.length; i++) {
      expectAllClose(
        y[i],
        refNorm(xs[i], 1e-5, false).map((z, j) => z * w[j] + b[j]),
        1e-5,
      );
    }
    // [1,2,3,4]: mean 2.5, var 1.25 -> (1-2.5)/sqrt(1.25+1e-5)
    expect(y[0][0]).toBeCloseTo(-1.5 / Math.sqrt(1.25 + 1e-5), 6);
    const plain = new LayerNorm(4, { eps: 1e-6, affine: false });
    expect(Object.keys(plain.stateDictShapes())).toEqual([]);
    x.dispose();
    ln.dispose();
  });

  it('RMSNorm matches x / sqrt(mean(x^2) + eps) * weight', () => {
    const rn = new RMSNorm(3);
    expect(rn.eps).toBe(1e-6);
    rn.weight.assign(tf.tensor1d([1, -2, 0.5]));
    const x = tf.tensor2d([[3, 4, 0]]);
    const y = arr(rn.forward(x));
    const r = Math.sqrt(25 / 3 + 1e-6);
    expectAllClose(y, [3 / r, (-2 * 4) / r, 0], 1e-5);
    x.dispose();
    rn.dispose();
  });

  it('GroupNorm normalises contiguous channel groups over H, W (NHWC)', () => {
    const gn = new GroupNorm(2, 4);
    expect(gn.eps).toBe(1e-6);
    randomizeParams(gn.namedParameters());
    const x = createRng(12).normal([2, 3, 2, 4], 1, 2);
    const xs = x.arraySync() as number[][][][];
    const y = gn.forward(x).arraySync() as number[][][][];
    const w = arr(gn.weight!);
    const b = arr(gn.bias!);
    for (let n = 0; n < 2; n++) {
      for (let g = 0; g < 2; g++) {
        const vals: number[] = [];
        for (let h = 0; h < 3; h++)
          for (let ww = 0; ww < 2; ww++) for (let c = 2 * g; c < 2 * g + 2; c++) vals.push(xs[n][h][ww][c]);
        const z = refNorm(vals, 1e-6, false);
        let k = 0;
        for (let h = 0; h < 3; h++)
          for (let ww = 0; ww < 2; ww++)
            for (let c = 2 * g; c < 2 * g + 2; c++)
              expect(y[n][h][ww][c]).toBeCloseTo(z[k++] * w[c] + b[c], 4);
      }
    }
    x.dispose();
    gn.dispose();
  });

  it('have correct gradients', () => {
    const cases: [
      string,
      {
        forward: (t: tf.Tensor) => tf.Tensor;
        parameters(): tf.Variable[];
        namedParameters(): [string, tf.Variable][];
      },
      number[],
    ][] = [
      ['layernorm', new LayerNorm(6), [2, 3, 6]],
      ['rmsnorm', new RMSNorm(6), [2, 3, 6]],
      ['groupnorm', new GroupNorm(3, 6), [2, 2, 3, 6]],
    ];
    for (const [, m, shape] of cases) {
      randomizeParams(m.namedParameters());
      const x = createRng(13).normal(shape, 0.3, 1.2);
      expect(gradCheck((t) => m.forward(t), x, m.parameters())).toBe(4 * (1 + m.parameters().length));
      x.dispose();
    }
  });

  it('reject bad shapes and options', () => {
    expect(() => new GroupNorm(3, 4)).toThrow(/multiple of groups/);
    const gn = new GroupNorm(2, 4);
    const x = tf.zeros([2, 4]);
    expect(() => gn.forward(x)).toThrow(/NHWC/);
    expect(() => new LayerNorm(4).forward(tf.zeros([2, 5]))).toThrow(/\[\.\.\., 4\]/);
    expect(() => new RMSNorm(0)).toThrow(/dim/);
    x.dispose();
  });
});

/** Direct convolution with PyTorch-layout weights [out, in, kh, kw] on NHWC input. */
function refConv(
  x: number[][][][],
  w: number[][][][],
  bias: number[],
  stride: number,
  pad: [number, number, number, number],
  outHW: [number, number],
): number[][][][] {
  const [pt, , pl] = pad;
  const cin = w[0].length;
  const kh = w[0][0].length;
  const kw = w[0][0][0].length;
  return x.map((img) =>
    Array.from({ length: outHW[0] }, (_, oh) =>
      Array.from({ length: outHW[1] }, (_, ow) =>
        w.map((wo, o) => {
          let s = bias[o];
          for (let c = 0; c < cin; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const r = oh * stride + i - pt;
                const q = ow * stride + j - pl;
                if (r >= 0 && r < img.length && q >= 0 && q < img[0].length) s += wo[c][i][j] * img[r][q][c];
              }
          return s;
        }),
      ),
    ),
  );
}

describe('Conv2d', () => {
  it('gives PyTorch output sizes', () => {
    const rng = createRng(1);
    const size = (k: number, s: number, p: number | 'same' | 'valid', h: number, w: number) => {
      const c = new Conv2d(1, 1, k, { rng, stride: s, padding: p });
      const y = c.forward(tf.zeros([1, h, w, 1]));
      const got = [y.shape[1], y.shape[2]];
      expect(c.outputSize(h, w)).toEqual(got);
      y.dispose();
      c.dispose();
      return got;
    };
    expect(size(3, 2, 1, 7, 8)).toEqual([4, 4]); // floor((7+2-3)/2)+1, floor((8+2-3)/2)+1
    expect(size(3, 2, 1, 32, 32)).toEqual([16, 16]);
    expect(size(4, 2, 1, 8, 9)).toEqual([4, 4]);
    expect(size(3, 1, 1, 5, 6)).toEqual([5, 6]);
    expect(size(3, 2, 0, 6, 7)).toEqual([2, 3]);
    expect(size(16, 16, 'valid', 32, 48)).toEqual([2, 3]);
    expect(size(3, 1, 'same', 5, 4)).toEqual([5, 4]);
  });

  it('matches a direct convolution with PyTorch-layout weights', () => {
    const cases: [number, number, number | [number, number] | 'same', [number, number, number, number]][] = [
      [3, 2, 1, [1, 1, 1, 1]],
      [3, 1, 'same', [1, 1, 1, 1]],
      [4, 2, 1, [1, 1, 1, 1]],
      [2, 2, 0, [0, 0, 0, 0]],
      [3, 1, [1, 0], [1, 1, 0, 0]],
    ];
    for (const [k, s, p, pads] of cases) {
      const conv = new Conv2d(3, 2, k, { rng: createRng(20 + k), stride: s, padding: p });
      const x = createRng(21).normal([2, 6, 5, 3]);
      const y = conv.forward(x);
      const sd = conv.stateDict();
      expect(sd.weight.shape).toEqual([2, 3, k, k]);
      const want = refConv(
        x.arraySync() as number[][][][],
        sd.weight.arraySync() as number[][][][],
        arr(sd.bias),
        s,
        pads,
        [y.shape[1], y.shape[2]],
      );
      const got = y.arraySync() as number[][][][];
      expectAllClose(got.flat(3), want.flat(3), 1e-4);
      tf.dispose([x, y, ...Object.values(sd)]);
      conv.dispose();
    }
  });

  it('initialises like PyTorch (bound 1/sqrt(fanIn) for weight and bias) and has correct gradients', () => {
    const conv = new Conv2d(4, 8, 3, { rng: createRng(2), stride: 2, padding: 1 });
    const bound = 1 / Math.sqrt(4 * 9);
    for (const t of [conv.weight, conv.bias!]) {
      const m = maxAbs(arr(t));
      expect(m).toBeLessThanOrEqual(bound * (1 + 1e-6));
      expect(m).toBeGreaterThan(0.5 * bound);
    }
    expect([...conv.decayParameterNames()]).toEqual(['weight']);
    const x = createRng(3).normal([2, 5, 5, 4]);
    expect(gradCheck((t) => conv.forward(t), x, conv.parameters())).toBe(12);
    x.dispose();
    conv.dispose();
  });

  it('rejects bad input by name', () => {
    const conv = new Conv2d(3, 2, 3, { rng: createRng(1) });
    expect(() => conv.forward(tf.zeros([1, 3, 8, 8]))).toThrow(/\[B, H, W, 3\] \(NHWC\)/);
    expect(() => conv.forward(tf.zeros([1, 2, 2, 3]))).toThrow(/too small/);
    expect(() => new Conv2d(3, 2, 3, { rng: createRng(1), stride: 0 })).toThrow(/stride/);
    expect(() => new Conv2d(3, 2, 3, { rng: createRng(1), padding: -1 })).toThrow(/padding/);
  });
});
