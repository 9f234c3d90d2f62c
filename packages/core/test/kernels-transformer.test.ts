/**
 * The SwiGLU gate, rotary-embedding and head split / merge kernels on the wasm heap: the gate and its
 * gradient against float64 at every tail length and at extreme inputs, the gate and the rotary
 * embedding against the tensor-op form on cpu (the rotary embedding bit for bit, forward and
 * backward), the head moves against reshapes and transposes (exactly, with their gradients), a
 * finite-difference check, registration, empty inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, RotaryEmbedding2d, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { swigluGate } from '../src/nn/swiglu.js';
import { gradCheck } from './nn-gradcheck.js';
import { expectNoLeak, expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

const sig64 = (a: number) => 1 / (1 + Math.exp(-a));

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('SwiGLU gate kernels', () => {
  it('are registered on wasm only', () => {
    for (const name of [
      'LdmaeSwiGLU',
      'LdmaeSwiGLUGrad',
      'LdmaeRope',
      'LdmaeSplitHeads',
      'LdmaeMergeHeads',
    ]) {
      expect(WASM_KERNELS).toContain(name);
      expect(tf.getKernel(name, 'wasm')).toBeDefined();
      expect(tf.getKernel(name, 'cpu')).toBeUndefined();
    }
  });

  it('stay within 3e-7 of float64 silu(a) b and its gradient on a in [-90, 90]', async () => {
    await setupBackend({ backend: 'wasm' });
    const n = 18001;
    const a = Float32Array.from({ length: n }, (_, i) => -90 + (180 * i) / (n - 1));
    const b = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7) / 8);
    // Rows of [a_i, b_i] (h = 1) so that every lane position and the tail are exercised.
    const x12 = tf.tensor2d(Array.from({ length: n }, (_, i) => [a[i], b[i]]));
    const dy = tf.tensor2d(Array.from({ length: n }, (_, i) => [0.5 + (i % 3)]));
    const [y, dx] = tf.tidy(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(swigluGate(t), dy)));
      return [swigluGate(x12), g(x12)];
    });
    const yv = y.dataSync();
    const dv = dx.dataSync();
    const dyv = dy.dataSync();
    let worstY = 0;
    let worstDa = 0;
    let worstDb = 0;
    for (let i = 0; i < n; i++) {
      const s = sig64(a[i]);
      const scale = Math.max(1, Math.abs(a[i]));
      worstY = Math.max(worstY, Math.abs(yv[i] - a[i] * s * b[i]) / (scale * b[i]));
      const da = dyv[i] * b[i] * s * (1 + a[i] * (1 - s));
      worstDa = Math.max(worstDa, Math.abs(dv[2 * i] - da) / (dyv[i] * b[i] * scale));
      worstDb = Math.max(worstDb, Math.abs(dv[2 * i + 1] - dyv[i] * a[i] * s) / (dyv[i] * scale));
    }
    expect(worstY).toBeLessThan(3e-7);
    expect(worstDa).toBeLessThan(3e-7);
    expect(worstDb).toBeLessThan(3e-7);
    tf.dispose([x12, dy, y, dx]);
  });

  it('give the tensor-op values of cpu for every tail length and for NaN', async () => {
    // Values reach about 40 in magnitude: 1e-5 is a few float32 steps there.
    for (const h of [1, 2, 3, 4, 5, 7, 8, 33]) {
      await expectSameOnWasmAndCpu(() => {
        const x = createRng(h).normal([3, 2, 2 * h], 0, 3);
        const w = createRng(h + 100).normal([3, 2, h]);
        return [swigluGate(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(swigluGate(t), w)))(x)];
      }, 1e-5);
    }
    await expectSameOnWasmAndCpu(() => [swigluGate(tf.tensor2d([[Number.NaN, 2, 1, Number.NaN]]))], 0);
  });

  it('pass a finite-difference check', async () => {
    await setupBackend({ backend: 'wasm' });
    const checked = tf.tidy(() =>
      gradCheck(swigluGate, createRng(5).normal([4, 10]), [], { eps: 1e-2, coords: 16 }),
    );
    expect(checked).toBeGreaterThan(0);
  });

  it('refuse an odd last dimension, handle an empty input and leak nothing', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(() => swigluGate(tf.zeros([2, 5]))).toThrow(/swigluGate: x12 must have an even last dimension/);
    const x = createRng(3).normal([4, 6, 10]);
    expectNoLeak(() => {
      expect(swigluGate(tf.zeros([0, 4])).shape).toEqual([0, 2]);
      expect(swigluGate(x).shape).toEqual([4, 6, 5]);
      tf.grad((t: tf.Tensor) => tf.sum(swigluGate(t)))(x).dataSync();
    });
    x.dispose();
  });
});

describe('rotary embedding kernel', () => {
  it('matches the tensor-op form on cpu bit for bit, forward and backward', async () => {
    for (const [lead, grid, d] of [
      [[2, 3], [4, 4], 8],
      [[5], [2, 3], 12],
      [[1], [8, 8], 64],
    ] as [number[], [number, number], number][]) {
      await expectSameOnWasmAndCpu(() => {
        const rope = new RotaryEmbedding2d(d, grid);
        const x = createRng(d).normal([...lead, grid[0] * grid[1], d]);
        const w = createRng(d + 1).normal(x.shape);
        const out = [rope.forward(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rope.forward(t), w)))(x)];
        rope.dispose();
        return out;
      }, 0);
    }
  });

  it('keeps the norm of each pair, and its gradient is the inverse rotation', async () => {
    await setupBackend({ backend: 'wasm' });
    const rope = new RotaryEmbedding2d(8, [3, 3]);
    const x = createRng(7).normal([2, 9, 8]);
    const [y, back] = tf.tidy(() => {
      const r = rope.forward(x);
      // The vector-Jacobian product of a rotation with dy = R x is R^T R x = x.
      const vjp = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rope.forward(t), r)))(x);
      return [r, vjp];
    });
    const xv = x.dataSync();
    const yv = y.dataSync();
    for (let i = 0; i < xv.length; i += 2) {
      expect(Math.hypot(yv[i], yv[i + 1])).toBeCloseTo(Math.hypot(xv[i], xv[i + 1]), 5);
    }
    const bv = back.dataSync();
    for (let i = 0; i < xv.length; i++) expect(bv[i]).toBeCloseTo(xv[i], 5);
    expectNoLeak(() => {
      rope.forward(x).dataSync();
      tf.grad((t: tf.Tensor) => tf.sum(rope.forward(t)))(x).dataSync();
    });
    tf.dispose([x, y, back]);
    rope.dispose();
  });
});

describe('head split and merge kernels', () => {
  const split = (x: tf.Tensor, parts: number, heads: number, part?: number) =>
    tf
      .engine()
      .runKernel(
        'LdmaeSplitHeads',
        { x },
        part === undefined ? { parts, heads } : { parts, heads, part },
      ) as tf.Tensor[];
  const merge = (xs: tf.Tensor[], heads: number) =>
    tf.engine().runKernel('LdmaeMergeHeads', Object.fromEntries(xs.map((x, p) => [`x${p}`, x])), {
      parts: xs.length,
      heads,
    }) as tf.Tensor;
  /** The tensor-op form: part p of x [B, N, parts * heads * d] as [B, heads, N, d]. */
  const reference = (x: tf.Tensor, parts: number, heads: number) => {
    const [b, n, w] = x.shape;
    const d = w / (parts * heads);
    return tf.split(x, parts, 2).map((t) => tf.transpose(tf.reshape(t, [b, n, heads, d]), [0, 2, 1, 3]));
  };

  it('move heads exactly as reshapes and transposes do, both ways, at every row length', async () => {
    await setupBackend({ backend: 'wasm' });
    for (const [b, n, parts, heads, d] of [
      [2, 5, 3, 2, 4],
      [1, 7, 3, 3, 5],
      [3, 4, 1, 2, 3],
      [2, 64, 3, 3, 64],
    ]) {
      tf.tidy(() => {
        const x = createRng(b + n + d).normal([b, n, parts * heads * d]);
        const got = split(x, parts, heads);
        const ref = reference(x, parts, heads);
        expect(got.length).toBe(parts);
        got.forEach((g, p) => {
          expect(g.shape).toEqual([b, heads, n, d]);
          expect(Array.from(g.dataSync())).toEqual(Array.from(ref[p].dataSync()));
        });
        expect(Array.from(split(x, parts, heads, parts - 1)[0].dataSync())).toEqual(
          Array.from(ref[parts - 1].dataSync()),
        );
        const back = merge(got, heads);
        expect(back.shape).toEqual(x.shape);
        expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
      });
    }
  });

  it('give the gradients of the tensor-op form, and of one part taken alone', async () => {
    await setupBackend({ backend: 'wasm' });
    tf.tidy(() => {
      const x = createRng(11).normal([2, 6, 3 * 2 * 5]);
      const ws = [0, 1, 2].map((p) => createRng(20 + p).normal([2, 2, 6, 5]));
      const loss = (parts: tf.Tensor[]) => tf.addN(parts.map((t, p) => tf.sum(tf.mul(t, ws[p]))));
      const got = tf.grad((t: tf.Tensor) => loss(split(t, 3, 2)))(x);
      const ref = tf.grad((t: tf.Tensor) => loss(reference(t, 3, 2)))(x);
      expect(Array.from(got.dataSync())).toEqual(Array.from(ref.dataSync()));
      // Only k used: the others' gradients are zeros.
      const onlyK = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(split(t, 3, 2)[1], ws[1])))(x);
      const refK = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reference(t, 3, 2)[1], ws[1])))(x);
      expect(Array.from(onlyK.dataSync())).toEqual(Array.from(refK.dataSync()));
      const alone = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(split(t, 3, 2, 1)[0], ws[1])))(x);
      expect(Array.from(alone.dataSync())).toEqual(Array.from(refK.dataSync()));
      // Merge's gradient splits dy, part by part.
      const [q, k, v] = reference(x, 3, 2);
      const dy = createRng(30).normal([2, 6, 30]);
      const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(merge([a, b, c], 2), dy)),
      )([q, k, v]);
      const parts = reference(dy, 3, 2);
      [dq, dk, dv].forEach((g, p) => {
        expect(Array.from(g.dataSync())).toEqual(Array.from(parts[p].dataSync()));
      });
    });
  });

  it('handle an empty batch and leak nothing', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = createRng(3).normal([2, 4, 12]);
    expectNoLeak(() => {
      expect(split(tf.zeros([0, 4, 12]), 3, 2).map((t) => t.shape)).toEqual([
        [0, 2, 4, 2],
        [0, 2, 4, 2],
        [0, 2, 4, 2],
      ]);
      merge(split(x, 3, 2), 2).dataSync();
      tf.grad((t: tf.Tensor) => tf.sum(merge(split(t, 1, 3), 3)))(x).dataSync();
    });
    x.dispose();
  });
});
