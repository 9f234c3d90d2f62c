/**
 * Our one-pass WebAssembly SIMD kernels on the wasm heap: the exact GELU and its gradient against a
 * float64 reference (erf to 1e-15), against the tensor-op form on cpu, at every tail length, at special
 * values, and for leaks; the column sums against float64 sums. (The AdamW kernel is checked bit for
 * bit in optim-adamw.test.ts.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { heapKernels } from '../src/backend/kernels/simd.js';
import { createRng, gelu, setupBackend } from '../src/index.node.js';
import { sumRows } from '../src/nn/linear.js';
import { expectNoLeak, expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

/** erf in float64: its Maclaurin series below 3, a continued fraction for erfc above. */
function erf64(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let sum = 0;
    let term = a;
    for (let n = 0; n < 200 && Math.abs(term) > 1e-18; n++) {
      sum += term / (2 * n + 1);
      term *= (-a * a) / (n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  let frac = 0;
  for (let k = 60; k >= 1; k--) frac = k / 2 / (a + frac);
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + frac));
}
const cdf64 = (x: number) => 0.5 * (1 + erf64(x / Math.SQRT2));
const gelu64 = (x: number) => x * cdf64(x);
const geluGrad64 = (x: number) => cdf64(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('erf reference', () => {
  it('matches known values', () => {
    expect(erf64(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf64(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(erf64(-2)).toBeCloseTo(-0.9953222650189527, 14);
    expect(erf64(3.5)).toBeCloseTo(0.9999992569016276, 14);
  });
});

describe('GELU kernels on the wasm heap', () => {
  it('are registered on wasm only', () => {
    expect(tf.getKernel('LdmaeGelu', 'wasm')).toBeDefined();
    expect(tf.getKernel('LdmaeGeluGrad', 'wasm')).toBeDefined();
    expect(tf.getKernel('LdmaeGelu', 'cpu')).toBeUndefined();
  });

  it('stay within 2e-7 |x| of float64 GELU and 3e-7 of its gradient on [-9, 9]', async () => {
    await setupBackend({ backend: 'wasm' });
    const n = 18001;
    const xs = Float32Array.from({ length: n }, (_, i) => -9 + (18 * i) / (n - 1));
    const x = tf.tensor1d(xs);
    const [y, dx] = tf.tidy(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(gelu(t)));
      return [gelu(x), g(x)];
    });
    const yv = y.dataSync();
    const dv = dx.dataSync();
    let worstY = 0;
    let worstDy = 0;
    let worstCentral = 0;
    for (let i = 0; i < n; i++) {
      const ey = Math.abs(yv[i] - gelu64(xs[i])) / Math.max(1, Math.abs(xs[i]));
      worstY = Math.max(worstY, ey);
      if (Math.abs(xs[i]) < 3) worstCentral = Math.max(worstCentral, ey);
      worstDy = Math.max(worstDy, Math.abs(dv[i] - geluGrad64(xs[i])));
    }
    // Near x = -5.5 the cdf is 0.5 (1 + erf) with erf within a few float32 steps of -1.
    expect(worstY).toBeLessThan(2e-7);
    expect(worstCentral).toBeLessThan(2e-7);
    expect(worstDy).toBeLessThan(3e-7);
    tf.dispose([x, y, dx]);
  });

  it('give the tensor-op values of cpu for every tail length, and at 0, +-inf and NaN', async () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 33]) {
      await expectSameOnWasmAndCpu(() => {
        const x = createRng(n).normal([n], 0, 2);
        const w = createRng(n + 100).normal([n]);
        return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), w)))(x)];
      }, 1e-6);
    }
    await expectSameOnWasmAndCpu(() => {
      const x = tf.tensor1d([0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 60, -60]);
      return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(tf.tensor1d([0, 60, -60, 1e-30]))];
    }, 1e-6);
  });

  it('handle an empty tensor and leak nothing forward or backward', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = createRng(3).normal([4, 6, 5]);
    expectNoLeak(() => {
      expect(gelu(tf.zeros([0, 3])).shape).toEqual([0, 3]);
      gelu(x).dataSync();
      tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x).dataSync();
    });
    x.dispose();
  });

  it('bind one module per backend memory', async () => {
    await setupBackend({ backend: 'wasm' });
    const k = heapKernels(tf.backend());
    expect(k).not.toBeNull();
    expect(heapKernels(tf.backend())).toBe(k);
    expect(heapKernels(tf.findBackend('cpu'))).toBeNull();
  });
});

describe('sumRows on the wasm heap', () => {
  it('is registered on wasm', () => {
    expect(tf.getKernel('LdmaeSumRows', 'wasm')).toBeDefined();
  });

  it('sums the columns within float32 rounding for every tail length and for no rows', async () => {
    await setupBackend({ backend: 'wasm' });
    for (const [m, n] of [
      [1, 1],
      [7, 3],
      [1568, 64],
      [33, 9],
      [0, 5],
      [4, 0],
    ]) {
      const x = createRng(m + n).normal([m, n]);
      const got = sumRows(x);
      expect(got.shape).toEqual([n]);
      const xv = x.dataSync();
      const gv = got.dataSync();
      for (let j = 0; j < n; j++) {
        let ref = 0;
        let abs = 0;
        for (let i = 0; i < m; i++) {
          ref += xv[i * n + j];
          abs += Math.abs(xv[i * n + j]);
        }
        // Sequential float32 addition: at most m rounding errors of 2^-24 relative to the running sum.
        expect(Math.abs(gv[j] - ref)).toBeLessThanOrEqual(m * 2 ** -24 * abs + 1e-30);
      }
      tf.dispose([x, got]);
    }
  });

  it('matches cpu, and its gradient broadcasts dy', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(4);
      const x = rng.normal([10, 6]);
      const w = rng.normal([6]);
      return [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(sumRows(t), w)))(x)];
    }, 0);
    await expectSameOnWasmAndCpu(() => [sumRows(createRng(5).normal([50, 7]))], 1e-5);
  });
});
