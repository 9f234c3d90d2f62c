/**
 * The fast paths of the offline LPIPS (fused frozen convolutions, and what the trunk skips) against
 * the plain computation they replace: conv2d, bias add and relu as separate differentiable ops on the
 * same Keras graph. Values and input gradients must agree to float32 rounding, on wasm and cpu.
 */
import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InceptionTrunk,
  KerasGraph,
  Lpips,
  type LpipsTrunk,
  NSFWJS_INCEPTION_TRUNK_NAME,
  type NsfwjsInceptionSource,
} from '../src/index.node.js';
import { type FrozenConvPad, frozenConv2d } from '../src/lpips/frozen-conv.js';
import { NSFWJS_INCEPTION_DEFAULT_TAPS } from '../src/lpips/inception-trunk.js';
import { readNsfwjsInceptionSource } from '../src/lpips/nsfwjs-files.node.js';

let source: NsfwjsInceptionSource;
let fast: InceptionTrunk;
let plain: LpipsTrunk;

/** The trunk as the plain ops compute it: conv2d, then the bias, then relu, all on the tape. */
function plainTrunk(src: NsfwjsInceptionSource): LpipsTrunk {
  const taps = NSFWJS_INCEPTION_DEFAULT_TAPS;
  const graph = new KerasGraph(src, {
    outputs: taps,
    conv: ({ kernel, bias, stride, padding, relu }) => ({
      forward: (x) => {
        const y = tf.conv2d(x, kernel, stride, padding);
        const b = bias ? tf.add(y, bias) : y;
        return (relu ? tf.relu(b) : b) as tf.Tensor4D;
      },
      dispose: () => tf.dispose([kernel, ...(bias ? [bias] : [])]),
    }),
  });
  return {
    name: NSFWJS_INCEPTION_TRUNK_NAME,
    tapNames: taps,
    tapChannels: taps.map((t) => graph.channels(t)),
    inputScaling: 'none',
    checkInputSize: () => {},
    forward: (x) => graph.run(x, taps[taps.length - 1], taps),
    dispose: () => graph.dispose(),
  };
}

/** max |a - b| / max |b|. */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => {
    const err = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    return err / Math.max(tf.max(tf.abs(b)).dataSync()[0], 1e-30);
  });
}

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  source = await readNsfwjsInceptionSource();
  fast = new InceptionTrunk(source);
  plain = plainTrunk(source);
});

afterAll(() => {
  fast.dispose();
  plain.dispose();
});

describe.each(['wasm', 'cpu'] as const)('fast LPIPS paths on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend({ backend });
  });
  afterAll(async () => {
    await setupBackend({ backend: 'wasm' });
  });

  it('frozenConv2d equals conv2d + bias + relu in value and input gradient', () => {
    type Shape = [number, number, number, number];
    const cases: [Shape, Shape, number, FrozenConvPad, boolean, boolean][] = [
      [[2, 9, 8, 3], [3, 3, 3, 5], 1, 'same', true, true],
      // Filters wider than the map: taps that only meet padding are cropped.
      [[2, 2, 2, 5], [1, 7, 5, 4], 1, 'same', true, true],
      [[2, 2, 3, 5], [7, 7, 5, 4], 1, 'same', true, false],
      [[1, 2, 2, 2], [5, 5, 2, 3], 2, 'same', false, true],
      [
        [1, 4, 4, 2],
        [3, 3, 2, 3],
        1,
        [
          [0, 0],
          [4, 3],
          [1, 2],
          [0, 0],
        ],
        true,
        true,
      ],
      [[2, 9, 8, 4], [3, 3, 4, 6], 2, 'valid', true, true],
      [[1, 7, 7, 5], [1, 7, 5, 4], 1, 'same', false, true],
      [[2, 6, 5, 3], [5, 5, 3, 2], 1, 'same', true, false],
      [
        [1, 8, 8, 2],
        [3, 3, 2, 3],
        1,
        [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
        false,
        false,
      ],
    ];
    let seed = 1;
    for (const [xs, ws, stride, pad, withBias, relu] of cases) {
      const x = tf.randomUniform(xs, -1, 1, 'float32', seed++) as tf.Tensor4D;
      const w = tf.randomUniform(ws, -1, 1, 'float32', seed++) as tf.Tensor4D;
      const b = withBias ? (tf.randomUniform([ws[3]], -1, 1, 'float32', seed++) as tf.Tensor1D) : null;
      const r = tf.randomUniform([1, 1, 1, ws[3]], 0.5, 1.5, 'float32', seed++);
      const mine = (t: tf.Tensor) => frozenConv2d(t as tf.Tensor4D, w, b, { stride, pad, relu });
      const ref = (t: tf.Tensor) => {
        const y = tf.conv2d(t as tf.Tensor4D, w, stride, pad);
        const yb = b ? tf.add(y, b) : y;
        return relu ? tf.relu(yb) : yb;
      };
      const before = tf.memory().numTensors;
      const [v, g] = tf.tidy(() => [
        mine(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(mine(t)), r)))(x),
      ]);
      const [vr, gr] = tf.tidy(() => [
        ref(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(ref(t)), r)))(x),
      ]);
      expect(v.shape).toEqual(vr.shape);
      expect(relErr(v, vr)).toBeLessThan(1e-6);
      expect(relErr(g, gr)).toBeLessThan(1e-5);
      tf.dispose([v, g, vr, gr]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w, r, ...(b ? [b] : [])]);
    }
  });

  it('frozenConv2d runs only the filter taps that meet the input', async () => {
    const x = tf.randomUniform([2, 2, 2, 5], -1, 1, 'float32', 40) as tf.Tensor4D;
    const w = tf.randomUniform([7, 7, 5, 4], -1, 1, 'float32', 41) as tf.Tensor4D;
    const info = await tf.profile(() => {
      tf.dispose(frozenConv2d(x, w, null, { stride: 1, pad: 'same', relu: true }));
    });
    const conv = info.kernels.filter((k) => k.name === 'FusedConv2D');
    expect(conv.map((k) => k.inputShapes[1])).toEqual([[3, 3, 5, 4]]);
    tf.dispose([x, w]);
  });

  it('LPIPS on 28 px images: the same distance and gradient as the plain trunk, without leaks', () => {
    const a = new Lpips(fast, { lin: 'uniform' });
    const p = new Lpips(plain, { lin: 'uniform' });
    // The plain trunk accepts any size: upsample for it as the fast head does.
    const up = (t: tf.Tensor4D) => tf.image.resizeBilinear(t, [64, 64]);
    const n = backend === 'cpu' ? 1 : 2; // the cpu backend takes ~8 s per image
    const x = tf.randomUniform([n, 28, 28, 3], -1, 1, 'float32', 31) as tf.Tensor4D;
    const y = tf.randomUniform([n, 28, 28, 3], -1, 1, 'float32', 32) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const [d, gx, gy] = tf.tidy(() => [
      a.forward(x, y),
      ...tf.grads((s: tf.Tensor, t: tf.Tensor) => tf.mean(a.forward(s as tf.Tensor4D, t as tf.Tensor4D)))([
        x,
        y,
      ]),
    ]);
    expect(tf.memory().numTensors).toBe(before + 3);
    const [dr, gxr, gyr] = tf.tidy(() => [
      p.forward(up(x), up(y)),
      ...tf.grads((s: tf.Tensor, t: tf.Tensor) =>
        tf.mean(p.forward(up(s as tf.Tensor4D), up(t as tf.Tensor4D))),
      )([x, y]),
    ]);
    expect(relErr(d, dr)).toBeLessThan(1e-5);
    expect(relErr(gx, gxr)).toBeLessThan(1e-5);
    expect(relErr(gy, gyr)).toBeLessThan(1e-5);
    expect(tf.tidy(() => tf.max(tf.abs(gx)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([d, gx, gy, dr, gxr, gyr, x, y]);
    expect(tf.memory().numTensors).toBe(before - 2);
  });
});
