/**
 * Our wasm BatchMatMul (our product kernel, or XNNPACK per batch on heap views), Slice and SplitV (copies straight from the
 * heap) against the cpu backend on seeded random inputs, plus matMul's gradient (which uses the
 * transpose flags), leak and bad-input checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { setOwnProducts } from '../src/backend/kernels/batch-matmul.js';
import { productsTakeTransposeFlags } from '../src/backend/kernels/index.js';
import { createRng, Linear, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { expectNoLeak, relErr, runOn } from './wasm-vs-cpu.js';

/**
 * Compare wasm with cpu output by output (shapes, dtypes, values to `tol`); `reference`, when given,
 * is what cpu runs instead of `make`.
 */
async function expectWasmMatchesCpu(
  make: () => tf.Tensor[],
  tol = 1e-4,
  reference: () => tf.Tensor[] = make,
): Promise<void> {
  const cpu = await runOn('cpu', reference);
  const wasm = await runOn('wasm', make);
  expect(wasm.shapes).toEqual(cpu.shapes);
  expect(wasm.dtypes).toEqual(cpu.dtypes);
  cpu.values.forEach((ref, i) => {
    expect(wasm.values[i].length).toBe(ref.length);
    expect(relErr(wasm.values[i], ref), `output ${i}`).toBeLessThan(tol);
  });
}

/** [a shape, b shape, transposeA, transposeB]. */
type MatMulCase = [number[], number[], boolean, boolean];

const MATMUL_CASES: MatMulCase[] = [
  // Batch 1: no flags stays on the native kernel, flags go through ours.
  [[1, 5, 7], [1, 7, 3], false, false],
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[1, 7, 5], [1, 3, 7], true, true],
  // Batch > 1, rank 3, every flag combination (attention's shapes, scaled down).
  [[6, 9, 4], [6, 4, 9], false, false],
  [[6, 9, 4], [6, 9, 4], false, true],
  [[6, 9, 9], [6, 9, 4], true, false],
  [[6, 4, 9], [6, 9, 4], true, true],
  // Rank 4.
  [[2, 3, 5, 4], [2, 3, 4, 6], false, false],
  [[2, 3, 5, 4], [2, 3, 6, 4], false, true],
  [[2, 3, 4, 5], [2, 3, 4, 6], true, false],
  // Broadcast batch dimensions: b shared (one folded product), a shared, both broadcast.
  [[4, 5, 6], [6, 3], false, false],
  [[2, 3, 5, 4], [3, 4, 6], false, false],
  [[2, 3, 4, 5], [1, 6, 4], true, true],
  [[5, 4], [3, 4, 6], false, false],
];

/** Shapes past the product kernel's blocks (256 of the inner dimension, 128 rows) and its tiles. */
const BLOCK_CASES: MatMulCase[] = [
  [[300, 600], [600, 70], false, false],
  [[600, 131], [600, 77], true, false],
  [[129, 257], [19, 257], false, true],
  [[2, 513, 130], [2, 61, 513], true, true],
  [[3, 64, 256], [256, 128], false, false],
];

/** Run `make` with float32 products on our kernel (`ours`) or on XNNPACK. */
function onRoute(ours: boolean, make: () => tf.Tensor[]): () => tf.Tensor[] {
  return () => {
    setOwnProducts(ours);
    try {
      return make();
    } finally {
      setOwnProducts(true);
    }
  };
}

/**
 * Both operands broadcast. tfjs 4.22's cpu kernel (and wasm's native one) return a buffer sized for
 * max(batchA, batchB) products here (90 values for a [2, 3, 5, 6] result), so the reference
 * broadcasts the operands first.
 */
const BOTH_BROADCAST: MatMulCase[] = [
  [[2, 1, 5, 4], [1, 3, 6, 4], false, true],
  [[3, 1, 4, 5], [2, 4, 6], true, false],
];

const caseName = ([sa, sb, ta, tb]: MatMulCase) => `[${sa}] x [${sb}] tA=${ta} tB=${tb}`;

describe('BatchMatMul matches cpu', () => {
  it('is registered by setupBackend', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(WASM_KERNELS).toEqual(expect.arrayContaining(['BatchMatMul', 'Slice', 'SplitV']));
  });

  describe.each([
    ['our product kernel', true],
    ['XNNPACK', false],
  ])('on %s', (_route, ours) => {
    it.each([...MATMUL_CASES, ...BLOCK_CASES].map((c) => [caseName(c), c] as const))(
      '%s',
      async (_name, [sa, sb, ta, tb]) => {
        await expectWasmMatchesCpu(
          onRoute(ours, () => {
            const rng = createRng(31);
            return [tf.matMul(rng.normal(sa), rng.normal(sb), ta, tb)];
          }),
        );
      },
    );
  });

  it.each(BOTH_BROADCAST.map((c) => [caseName(c), c] as const))(
    'both broadcast: %s',
    async (_name, [sa, sb, ta, tb]) => {
      const operands = () => {
        const rng = createRng(31);
        return [rng.normal(sa), rng.normal(sb)];
      };
      const outer = tf.backend_util.assertAndGetBroadcastShape(sa.slice(0, -2), sb.slice(0, -2));
      const full = (x: tf.Tensor) => tf.broadcastTo(x, [...outer, ...x.shape.slice(-2)]);
      await expectWasmMatchesCpu(
        () => {
          const [a, b] = operands();
          return [tf.matMul(a, b, ta, tb)];
        },
        1e-4,
        () => {
          const [a, b] = operands();
          return [tf.matMul(full(a), full(b), ta, tb)];
        },
      );
    },
  );

  it('on attention-sized batches (q k^T, attn v)', async () => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(32);
      const q = rng.normal([24, 49, 16]);
      const k = rng.normal([24, 49, 16]);
      const attn = tf.softmax(tf.matMul(q, k, false, true));
      return [attn, tf.matMul(attn, rng.normal([24, 49, 16]))];
    });
  });

  it.each([
    [[4, 5, 6], [4, 6, 3], false, false],
    [[2, 3, 5, 4], [2, 3, 6, 4], false, true],
    [[4, 6, 5], [4, 6, 3], true, false],
    [[4, 6, 5], [4, 3, 6], true, true],
  ] as MatMulCase[])('gradient of matMul [%s] x [%s] tA=%s tB=%s', async (sa, sb, ta, tb) => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(33);
      const a = rng.normal(sa);
      const b = rng.normal(sb);
      const w = rng.normal(tf.matMul(a, b, ta, tb).shape);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w));
      return tf.grads(f)([a, b]);
    });
  });

  it('runs tf.fused.matMul with a bias row on our kernel, and passes other fused products to tfjs', async () => {
    expect(WASM_KERNELS).toContain('_FusedMatMul');
    await expectWasmMatchesCpu(() => {
      const rng = createRng(37);
      const a = rng.normal([300, 270]);
      const b = rng.normal([270, 20]);
      const bias = rng.normal([20]);
      const at = rng.normal([2, 270, 9]);
      const bt = rng.normal([2, 20, 270]);
      return [
        tf.fused.matMul({ a, b, bias }),
        tf.fused.matMul({ a: at, b: bt, bias, transposeA: true, transposeB: true }),
        tf.fused.matMul({ a, b, bias: tf.tensor1d([0.5]) }),
        // Not ours: an activation, no bias.
        tf.fused.matMul({ a, b, bias, activation: 'relu' }),
        tf.fused.matMul({ a, b }),
      ];
    });
  });

  it("lets Linear's backward pass use the transpose flags on wasm (no Transpose kernel), same values", async () => {
    await setupBackend({ backend: 'wasm' });
    expect(productsTakeTransposeFlags()).toBe(true);
    const run = () => {
      const lin = new Linear(6, 5, { rng: createRng(34) });
      const x = createRng(35).normal([7, 6]);
      const w = createRng(36).normal([7, 5]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(lin.forward(x), w)) as tf.Scalar);
      const out = [value, grads[lin.weight.name], grads[(lin.bias as tf.Variable).name]];
      lin.dispose();
      return out;
    };
    const profile = await tf.profile(() => tf.tidy(() => run().map((t) => tf.keep(t))));
    expect(profile.kernels.map((k) => k.name)).not.toContain('Transpose');
    await expectWasmMatchesCpu(run);
    await setupBackend({ backend: 'cpu' });
    expect(productsTakeTransposeFlags()).toBe(false);
  });

  it('gives zeros when the inner dimension is 0 and empty outputs for empty batches', async () => {
    await expectWasmMatchesCpu(() => [
      tf.matMul(tf.zeros([3, 4, 0]), tf.zeros([3, 0, 5])),
      tf.matMul(tf.zeros([0, 4, 2]), tf.zeros([0, 2, 5]), false, false),
      tf.matMul(tf.zeros([2, 0, 3]), tf.zeros([2, 4, 3]), false, true),
    ]);
  });
});

describe('Slice / SplitV match cpu', () => {
  it('on float32 boxes of rank 1 to 5, size -1 included', async () => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(34);
      const x3 = rng.normal([4, 7, 12]);
      const x5 = rng.normal([2, 3, 4, 5, 6]);
      return [
        tf.slice(rng.normal([10]), 3, 4),
        tf.slice(rng.normal([6, 9]), [1, 2], [4, -1]),
        tf.slice(x3, [0, 0, 4], [-1, -1, 4]),
        tf.slice(x3, [1, 2, 0], [2, -1, -1]),
        tf.slice(x3, [3, 6, 11], [1, 1, 1]),
        tf.slice(x3, [0, 0, 0], [4, 7, 12]),
        tf.slice(rng.normal([3, 1, 5, 40]), [1, 0, 1, 3], [2, 1, 3, 36]),
        tf.slice(x5, [1, 0, 1, 2, 1], [1, 3, 2, 2, 4]),
      ];
    });
  });

  it('on int32 and bool inputs', async () => {
    await expectWasmMatchesCpu(() => {
      const x = tf.range(0, 60, 1, 'int32').reshape([3, 4, 5]);
      return [tf.slice(x, [1, 1, 2], [2, 2, 3]), tf.slice(tf.greater(x, 30), [0, 2, 0], [-1, 2, -1])];
    });
  });

  it('splits along every axis, evenly and by sizes', async () => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(35);
      const qkv = rng.normal([4, 9, 48]);
      return [
        ...tf.split(qkv, 3, 2),
        ...tf.split(qkv, [2, 0, 7], 1),
        ...tf.split(qkv, [1, -1], 0),
        ...tf.split(tf.range(0, 24, 1, 'int32').reshape([4, 6]), 2, 1),
      ];
    });
  });

  it('keeps the gradient of split (the qkv projection backward)', async () => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(36);
      const x = rng.normal([2, 5, 12]);
      const w = rng.normal([2, 5, 4]);
      const f = (t: tf.Tensor) => {
        const [q, k, v] = tf.split(t, 3, 2);
        return tf.sum(tf.mul(tf.add(tf.mul(q, k), v), w));
      };
      return [tf.grad(f)(x)];
    });
  });
});

describe('no leaks, bad input', () => {
  it('leaves tensor count and wasm buffers unchanged', async () => {
    await setupBackend({ backend: 'wasm' });
    const rng = createRng(37);
    const a = rng.normal([6, 5, 4]);
    const b = rng.normal([6, 4, 3]);
    const shared = rng.normal([4, 3]);
    const perHead = rng.normal([3, 4, 3]);
    const x = rng.normal([3, 4, 12]);
    expectNoLeak(() => {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ]) {
        tf.matMul(ta ? tf.transpose(a, [0, 2, 1]) : a, tb ? tf.transpose(b, [0, 2, 1]) : b, ta, tb);
      }
      tf.matMul(a, shared);
      tf.fused.matMul({ a, b, bias: tf.ones([3]) });
      tf.fused.matMul({ a, b, bias: tf.ones([1]) });
      tf.matMul(tf.reshape(a, [2, 3, 5, 4]), perHead);
      tf.matMul(tf.reshape(a, [2, 1, 3, 5, 4]), tf.reshape(perHead, [1, 3, 1, 4, 3]));
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.matMul(p, q, false, true)))([
        a,
        tf.transpose(b, [0, 2, 1]),
      ]);
      tf.split(x, 3, 2);
      tf.slice(x, [1, 0, 2], [2, -1, 5]);
    });
    tf.dispose([a, b, shared, perHead, x]);
  });

  it('names the argument and what was expected', async () => {
    await setupBackend({ backend: 'wasm' });
    const a = tf.zeros([2, 3, 4]);
    const b = tf.zeros([2, 5, 6]);
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes \(4\) and \(5\)/);
    expect(() => tf.matMul(a, tf.zeros([3, 4, 6]))).toThrow(/broadcast/i);
    expect(() =>
      tf.engine().runKernel('Slice', { x: a }, { begin: [0, 2, 0], size: [1, 2, 4] } as tf.NamedAttrMap),
    ).toThrow(/begin\[1\] \+ size\[1\] \(4\) would overflow input\.shape\[1\] \(3\)/);
    tf.dispose([a, b]);
  });
});
