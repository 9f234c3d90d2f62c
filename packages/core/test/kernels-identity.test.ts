/**
 * Our wasm Identity shares its input's buffer (tf.clone, the tensors custom gradients save): no new
 * buffer, values survive the disposal of either side, strings keep tfjs's kernel, and gradients
 * through saved tensors are unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, LayerNorm, Linear, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { expectSameOnWasmAndCpu } from './wasm-vs-cpu.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('wasm Identity', () => {
  it('is registered', () => {
    expect(WASM_KERNELS).toContain('Identity');
  });

  it('shares the buffer, and the data lives until the last tensor on it is disposed', async () => {
    await setupBackend({ backend: 'wasm' });
    const buffers = tf.backend().numDataIds();
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    expect(tf.backend().numDataIds()).toBe(buffers + 1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    const c = tf.clone(b);
    b.dispose();
    expect(Array.from(await c.data())).toEqual([1, 2, 3]);
    c.dispose();
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('keeps a variable and its clone apart after assign', async () => {
    await setupBackend({ backend: 'wasm' });
    const v = tf.variable(tf.tensor1d([1, 2]));
    const saved = tf.clone(v);
    v.assign(tf.tensor1d([5, 6]));
    expect(Array.from(saved.dataSync())).toEqual([1, 2]);
    expect(Array.from(v.dataSync())).toEqual([5, 6]);
    tf.dispose([v, saved]);
  });

  it('clones strings and int32 as before', async () => {
    await expectSameOnWasmAndCpu(() => [tf.clone(tf.tensor1d([7, 8], 'int32'))]);
    await setupBackend({ backend: 'wasm' });
    const s = tf.tensor1d(['x', 'yz']);
    const t = tf.clone(s);
    s.dispose();
    expect(t.arraySync()).toEqual(['x', 'yz']);
    t.dispose();
  });

  it('gives the same gradients as cpu through layers whose custom gradients save tensors', async () => {
    await expectSameOnWasmAndCpu(() => {
      const rng = createRng(6);
      const lin = new Linear(8, 5, { rng });
      const norm = new LayerNorm(5);
      const x = rng.normal([4, 8]);
      const w = rng.normal([4, 5]);
      const f = () => tf.sum(tf.mul(norm.forward(lin.forward(x)), w)) as tf.Scalar;
      const { value, grads } = tf.variableGrads(f);
      const out = [value, ...Object.values(grads)];
      lin.dispose();
      norm.dispose();
      return out;
    }, 1e-5);
  });
});
