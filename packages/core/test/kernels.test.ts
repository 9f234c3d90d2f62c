/**
 * The wasm kernels we register, each compared with the cpu backend on seeded random inputs, plus
 * registration, leak and bad-input checks. Dilated convolutions, which the cpu kernels ignore, are
 * checked with the adjoint identity <conv(x, W), dy> = <x, dX> = <W, dW> against wasm's forward conv.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, registerMissingKernels, setupBackend, WASM_KERNELS } from '../src/index.node.js';
import { relErr, runOn } from './wasm-vs-cpu.js';

type Attrs = tf.NamedAttrMap;

/** Compare wasm with cpu output by output; returns the worst relative error. */
async function expectWasmMatchesCpu(make: () => tf.Tensor[], tol = 1e-4): Promise<number> {
  const cpu = await runOn('cpu', make);
  const wasm = await runOn('wasm', make);
  expect(wasm.shapes).toEqual(cpu.shapes);
  let worst = 0;
  cpu.values.forEach((ref, i) => {
    expect(wasm.values[i].length).toBe(ref.length);
    worst = Math.max(worst, relErr(wasm.values[i], ref));
  });
  expect(worst).toBeLessThan(tol);
  return worst;
}

/** Run a kernel directly; undefined attributes are dropped, as tfjs's ops leave them unset. */
const kernel = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) =>
  tf
    .engine()
    .runKernel(
      name,
      inputs,
      Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)) as Attrs,
    ) as tf.Tensor;

type PadAttr =
  | 'same'
  | 'valid'
  | number
  | [[number, number], [number, number], [number, number], [number, number]];
const EXPLICIT: PadAttr = [
  [0, 0],
  [1, 2],
  [0, 1],
  [0, 0],
];
const PAD_ONE: PadAttr = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  f: number;
  strides: number | [number, number];
  pad: PadAttr;
  round?: 'floor' | 'ceil' | 'round';
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 7, 7, 3], k: [1, 1], f: 4, strides: 1, pad: 'same' },
  { x: [2, 7, 7, 3], k: [1, 1], f: 4, strides: 2, pad: 'valid' },
  { x: [2, 7, 7, 3], k: [3, 3], f: 4, strides: 1, pad: 'same' },
  { x: [2, 8, 8, 3], k: [3, 3], f: 4, strides: 2, pad: 'same' },
  { x: [2, 7, 7, 3], k: [3, 3], f: 4, strides: 1, pad: 'valid' },
  { x: [2, 9, 9, 3], k: [3, 3], f: 4, strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 3], k: [4, 4], f: 5, strides: 2, pad: PAD_ONE },
  { x: [2, 6, 6, 3], k: [3, 3], f: 2, strides: 1, pad: PAD_ONE },
  { x: [2, 7, 6, 3], k: [3, 2], f: 4, strides: [2, 1], pad: EXPLICIT },
  { x: [2, 8, 8, 3], k: [4, 4], f: 4, strides: 2, pad: 'same' },
  { x: [2, 16, 16, 3], k: [8, 8], f: 6, strides: 8, pad: 'valid' },
  { x: [1, 9, 9, 2], k: [3, 3], f: 3, strides: 2, pad: 1, round: 'ceil' },
  { x: [1, 10, 10, 2], k: [3, 3], f: 3, strides: 3, pad: 1, round: 'floor' },
  { x: [1, 11, 11, 3], k: [11, 11], f: 2, strides: 4, pad: 2 },
  { x: [1, 5, 5, 2], k: [1, 1], f: 3, strides: 1, pad: 1 },
];

const label = (c: ConvCase) =>
  `x ${c.x.join('x')} k ${c.k.join('x')} s ${c.strides} pad ${JSON.stringify(c.pad)}${c.round ? ` ${c.round}` : ''}`;

function convOutShape(c: ConvCase, outChannels: number, depthwise = false): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    [c.k[0], c.k[1], c.x[3], depthwise ? outChannels / c.x[3] : outChannels],
    c.strides,
    1,
    c.pad,
    c.round,
    depthwise,
  );
  return info.outShape;
}

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('registration', () => {
  it('lists what it registers and registers it on wasm', async () => {
    await setupBackend({ backend: 'wasm' });
    expect(WASM_KERNELS).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter',
        'DepthwiseConv2dNativeBackpropFilter',
        'DepthwiseConv2dNativeBackpropInput',
        'UnsortedSegmentSum',
      ]),
    );
    for (const name of WASM_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
  });

  it('is idempotent and leaves other backends alone', async () => {
    await setupBackend({ backend: 'wasm' });
    const before = WASM_KERNELS.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    expect(registerMissingKernels('wasm')).toEqual([]);
    expect(registerMissingKernels('wasm')).toEqual([]);
    expect(WASM_KERNELS.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc)).toEqual(before);
    const cpuFilter = tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc;
    expect(registerMissingKernels('cpu')).toEqual([]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc).toBe(cpuFilter);
  });

  it('registers a kernel again after it was removed, without wrapping a wrapper twice', async () => {
    await setupBackend({ backend: 'wasm' });
    const ours = tf.getKernel('UnsortedSegmentSum', 'wasm');
    tf.unregisterKernel('UnsortedSegmentSum', 'wasm');
    expect(registerMissingKernels('wasm')).toEqual(['UnsortedSegmentSum']);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')?.kernelFunc).toBe(ours?.kernelFunc);
    const gather = tf.getKernel('GatherV2', 'wasm')?.kernelFunc;
    registerMissingKernels('wasm');
    expect(tf.getKernel('GatherV2', 'wasm')?.kernelFunc).toBe(gather);
  });
});

describe('Conv2DBackpropFilter / Conv2DBackpropInput match cpu', () => {
  it.each(CONV_CASES.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const make = () => {
      const rng = createRng(11);
      const x = rng.normal(c.x);
      const filter = rng.normal([c.k[0], c.k[1], c.x[3], c.f]);
      const dy = rng.normal(convOutShape(c, c.f));
      const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.round };
      return [
        kernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: filter.shape }),
        kernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: c.x }),
      ];
    };
    await expectWasmMatchesCpu(make);
  });
});

// With 8 or more input channels a strided input gradient runs per output phase on large maps and as
// one matrix product on small ones (where the phases would mostly multiply padding): both against cpu.
const WIDE_CASES: ConvCase[] = [
  { x: [2, 12, 12, 8], k: [3, 3], f: 6, strides: 2, pad: 'same' },
  { x: [1, 16, 16, 8], k: [4, 4], f: 5, strides: 2, pad: PAD_ONE },
  { x: [2, 5, 5, 9], k: [3, 3], f: 7, strides: 2, pad: 'valid' },
  { x: [2, 3, 3, 8], k: [3, 3], f: 4, strides: 2, pad: 'same' },
  { x: [1, 6, 5, 8], k: [3, 2], f: 4, strides: [3, 1], pad: EXPLICIT },
];

describe('Conv2DBackpropInput with 8+ input channels matches cpu', () => {
  it.each(WIDE_CASES.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const make = () => {
      const rng = createRng(12);
      const filter = rng.normal([c.k[0], c.k[1], c.x[3], c.f]);
      const dy = rng.normal(convOutShape(c, c.f));
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
      return [kernel('Conv2DBackpropInput', { dy, filter }, attrs)];
    };
    await expectWasmMatchesCpu(make);
  });
});

describe('DepthwiseConv2dNative gradients match cpu', () => {
  const cases = CONV_CASES.filter((c) => c.k[0] <= 4 && c.x[3] > 1).flatMap((c) => [
    { ...c, m: 1 },
    { ...c, m: 2 },
  ]);
  it.each(cases.map((c) => [`${label(c)} m ${c.m}`, c] as const))('%s', async (_name, c) => {
    const make = () => {
      const rng = createRng(12);
      const x = rng.normal(c.x);
      const filter = rng.normal([c.k[0], c.k[1], c.x[3], c.m]);
      const dy = rng.normal(convOutShape(c, c.x[3] * c.m, true));
      const common = { strides: c.strides, pad: c.pad, dilations: [1, 1], dimRoundingMode: c.round };
      return [
        kernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...common, filterShape: filter.shape }),
        kernel('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...common, inputShape: c.x }),
      ];
    };
    await expectWasmMatchesCpu(make);
  });
});

describe('dilated convolution gradients satisfy the adjoint identity on wasm', () => {
  /** |<y, dy> - <W, dW>| and |<y, dy> - <x, dX>| relative to ||y|| ||dy||. */
  function adjointErrors(
    y: tf.Tensor,
    dy: tf.Tensor,
    x: tf.Tensor,
    dX: tf.Tensor | null,
    w: tf.Tensor,
    dW: tf.Tensor,
  ) {
    const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0];
    const scale = Math.sqrt(dot(y, y) * dot(dy, dy));
    const ref = dot(y, dy);
    return [Math.abs(ref - dot(w, dW)) / scale, dX ? Math.abs(ref - dot(x, dX)) / scale : 0];
  }

  it.each([
    ['same', 1],
    ['valid', 1],
    [PAD_ONE, 2],
  ] as const)('Conv2DBackpropFilter with dilations 2, pad %j, stride %i', async (pad, stride) => {
    await setupBackend({ backend: 'wasm' });
    const errs = tf.tidy(() => {
      const rng = createRng(13);
      const x = rng.normal([2, 9, 9, 3]) as tf.Tensor4D;
      const w = rng.normal([3, 3, 3, 4]) as tf.Tensor4D;
      // The kernel, not tf.conv2d, because the op refuses strides and dilations both above 1.
      const y = kernel(
        'Conv2D',
        { x, filter: w },
        { strides: stride, pad, dilations: 2, dataFormat: 'NHWC' },
      );
      const dy = rng.normal(y.shape);
      const dW = kernel(
        'Conv2DBackpropFilter',
        { x, dy },
        { strides: stride, pad: pad as PadAttr, dilations: 2, dataFormat: 'NHWC', filterShape: w.shape },
      );
      expect(dW.shape).toEqual(w.shape);
      return adjointErrors(y, dy, x, null, w, dW);
    });
    expect(Math.max(...errs)).toBeLessThan(1e-5);
  });

  it.each([1, 2])('depthwise gradients with dilations 2, multiplier %i', async (m) => {
    await setupBackend({ backend: 'wasm' });
    const errs = tf.tidy(() => {
      const rng = createRng(14);
      const x = rng.normal([2, 9, 9, 3]) as tf.Tensor4D;
      const w = rng.normal([3, 3, 3, m]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2);
      const dy = rng.normal(y.shape);
      const attrs = { strides: 1, pad: 'same', dilations: 2 };
      const dW = kernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
      const dX = kernel(
        'DepthwiseConv2dNativeBackpropInput',
        { dy, filter: w },
        { ...attrs, inputShape: x.shape },
      );
      return adjointErrors(y, dy, x, dX, w, dW);
    });
    expect(Math.max(...errs)).toBeLessThan(1e-5);
  });
});

describe('UnsortedSegmentSum matches cpu', () => {
  it.each([
    ['ids with out-of-range ids', [7, 3], [0, 2, 2, -1, 0, 4, 3], 4],
    ['scalar rows', [5], [4, 4, 0, 1, 4], 6],
  ] as const)('%s', async (_name, shape, ids, numSegments) => {
    await expectWasmMatchesCpu(() => {
      const x = createRng(15).normal([...shape]);
      const segmentIds = tf.tensor1d([...ids], 'int32');
      return [kernel('UnsortedSegmentSum', { x, segmentIds }, { numSegments })];
    });
  });

  it('accepts 2-D ids over a 3-D x (the cpu kernel cannot; checked against a JS sum)', async () => {
    await setupBackend({ backend: 'wasm' });
    const xs = Float32Array.from(createRng(15).normalArray(24));
    const ids = [1, 0, 1, 1, 2, 0];
    const expected = new Float32Array(12);
    ids.forEach((id, i) => {
      for (let j = 0; j < 4; j++) expected[id * 4 + j] += xs[i * 4 + j];
    });
    const out = tf.tidy(() =>
      kernel(
        'UnsortedSegmentSum',
        { x: tf.tensor3d(xs, [2, 3, 4]), segmentIds: tf.tensor2d(ids, [2, 3], 'int32') },
        { numSegments: 3 },
      ),
    );
    expect(out.shape).toEqual([3, 4]);
    expect(relErr(out.dataSync(), expected)).toBeLessThan(1e-6);
    out.dispose();
  });

  it('sums int32 values exactly', async () => {
    await setupBackend({ backend: 'wasm' });
    const out = tf.tidy(() =>
      tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([1, 1, 0, 1], 'int32'), 2),
    );
    expect(out.dtype).toBe('int32');
    expect(Array.from(out.dataSync())).toEqual([3, 7]);
    out.dispose();
  });
});

describe('GatherV2 with batchDims matches cpu', () => {
  it.each([
    ['tokens [B, N, D], keep [B, K]', [4, 10, 6], [4, 3], 1, 1],
    ['axis 2 after one batch dim', [3, 4, 5, 2], [3, 2, 2], 2, 1],
    ['2-D x', [4, 9], [4, 5], 1, 1],
    ['two batch dims', [2, 3, 5, 2], [2, 3, 4], 2, 2],
    ['batchDims 0 still native', [6, 4], [5], 0, 0],
  ] as const)('%s', async (_name, xShape, idxShape, axis, batchDims) => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(16);
      const x = rng.normal([...xShape]);
      const n = idxShape.reduce((a, b) => a * b, 1);
      const dim = xShape[axis] as number;
      const idx = tf.tensor(
        Array.from({ length: n }, () => rng.nextInt(dim)),
        [...idxShape],
        'int32',
      );
      return [tf.gather(x, idx, axis, batchDims)];
    });
  });

  it('rejects an index outside the gathered axis, naming it', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = tf.zeros([2, 3, 4]);
    const idx = tf.tensor2d(
      [
        [0, 1],
        [3, 0],
      ],
      [2, 2],
      'int32',
    );
    expect(() => tf.gather(x, idx, 1, 1)).toThrow(/indices\[2\] = 3 is not in \[0, 2\]/);
    tf.dispose([x, idx]);
  });
});

describe('MaxPoolGrad', () => {
  it('routes the gradient of all-negative windows to their maximum (wasm 4.22 lost it)', async () => {
    await setupBackend({ backend: 'wasm' });
    const g = tf.tidy(() => {
      const x = tf.tensor4d([-1, -5, -2, -3, -4, -9, -7, -8, -6, -0.5, -3, -2, -1, -2, -8, -4], [1, 4, 4, 1]);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x);
    });
    expect(Array.from(g.dataSync())).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    g.dispose();
  });

  it.each([
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
    [3, 2, 1],
  ] as const)('matches cpu: filter %i stride %i pad %j', async (size, stride, pad) => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(17);
      const x = rng.normal([2, 7, 7, 3]);
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, pad);
      const dy = rng.normal(y.shape);
      return [kernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: size, strides: stride, pad })];
    });
  });
});

describe('AvgPoolGrad', () => {
  it.each([
    [2, 2, 'valid'],
    [3, 1, 'same'],
    [3, 2, 'same'],
    [3, 2, 1],
    [[3, 2], 1, 'valid'],
  ] as const)('matches cpu: filter %j stride %i pad %j', async (size, stride, pad) => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(20);
      const x = rng.normal([2, 7, 6, 5]);
      const y = tf.avgPool(x as tf.Tensor4D, size as number | [number, number], stride, pad);
      const dy = rng.normal(y.shape);
      return [kernel('AvgPoolGrad', { dy, input: x }, { filterSize: size, strides: stride, pad })];
    });
  });
});

describe('Einsum matches cpu', () => {
  it.each([
    [
      'ij,jk->ik',
      [
        [3, 4],
        [4, 5],
      ],
    ],
    [
      'bhqd,bhkd->bhqk',
      [
        [2, 2, 3, 4],
        [2, 2, 5, 4],
      ],
    ],
    [
      'bij,bjk->bik',
      [
        [2, 3, 4],
        [2, 4, 2],
      ],
    ],
    ['i,j->ij', [[3], [4]]],
    ['ij->ji', [[3, 4]]],
    ['ij->j', [[3, 4]]],
  ] as const)('%s', async (eq, shapes) => {
    await expectWasmMatchesCpu(() => {
      const rng = createRng(18);
      return [tf.einsum(eq, ...shapes.map((s) => rng.normal([...s])))];
    });
  });
});

describe('no leaks', () => {
  it('leaves tensor count and wasm buffers unchanged after every registered kernel', async () => {
    await setupBackend({ backend: 'wasm' });
    const rng = createRng(19);
    const x = rng.normal([2, 8, 8, 3]) as tf.Tensor4D;
    const w = rng.normal([3, 3, 3, 4]) as tf.Tensor4D;
    const dw = rng.normal([3, 3, 3, 2]) as tf.Tensor4D;
    const tokens = rng.normal([2, 5, 4]);
    const keep = tf.tensor2d(
      [
        [0, 4],
        [3, 3],
      ],
      [2, 2],
      'int32',
    );
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = tf.backend().numDataIds();
    const run = () => {
      const y = tf.conv2d(x, w, 2, 'same');
      tf.conv2dTranspose(y, w, [2, 8, 8, 3], 2, 'same');
      tf.conv2dTranspose(y, w, [2, 8, 8, 3], 2, PAD_ONE);
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const conv = tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'));
        const pool = tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'));
        const depthwise = tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, PAD_ONE));
        return tf.addN([conv, pool, depthwise]);
      })([x, w, dw]);
      tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, keep, 1, 1)))(tokens);
      tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([1, 1, 0], 'int32'))))(tokens);
      tf.einsum('bij,bkj->bik', tokens, tokens);
    };
    tf.tidy(run);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(tf.backend().numDataIds()).toBe(buffersBefore);
    tf.dispose([x, w, dw, tokens, keep]);
  });
});

describe('bad input', () => {
  it('names the argument and what was expected', async () => {
    await setupBackend({ backend: 'wasm' });
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    const wrongDy = tf.zeros([1, 4, 4, 3]);
    const attrs = { strides: 1, pad: 'same', filterShape: [3, 3, 2, 3] };
    expect(() => kernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, dataFormat: 'NCHW' })).toThrow(
      /dataFormat must be 'NHWC'/,
    );
    expect(() =>
      kernel('Conv2DBackpropFilter', { x, dy: wrongDy }, { ...attrs, dataFormat: 'NHWC' }),
    ).toThrow(/dy must have shape \[1, 5, 5, 3\]/);
    const ids = tf.tensor1d([0, 1], 'int32');
    expect(() => kernel('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 2 })).toThrow(
      /must be a prefix/,
    );
    tf.dispose([x, dy, wrongDy, ids]);
  });
});
