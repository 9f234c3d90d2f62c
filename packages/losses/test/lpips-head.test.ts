import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LPIPS_UPSAMPLE_TO, Lpips, type LpipsTrunk, vgg16Trunk } from '../src/index.js';
import { loadLpips, readTensorDict } from '../src/index.node.js';
import { LPIPS_SCALE, LPIPS_SHIFT } from '../src/lpips/lpips.js';

const VGG_PTH = '/work/shared/weights/lpips-v0.1/vgg.pth';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** A trunk with known taps: tap0 = x (3 ch), tap1 = [x, x^2] (6 ch), both at full resolution. */
function fakeTrunk(inputScaling: 'lpips' | 'none' = 'none'): LpipsTrunk & { disposed: boolean } {
  return {
    name: 'fake',
    tapChannels: [3, 6],
    tapNames: ['x', 'x,x^2'],
    inputScaling,
    disposed: false,
    checkInputSize: () => {},
    forward: (x: tf.Tensor4D) => tf.tidy(() => [x.clone(), tf.concat([x, tf.square(x)], 3) as tf.Tensor4D]),
    dispose() {
      this.disposed = true;
    },
  };
}

/** A trunk with VGG16's tap channels whose forward is never called (for lin-weight loading). */
function vggShapedTrunk(): LpipsTrunk {
  return {
    name: 'vgg-shaped',
    tapChannels: [64, 128, 256, 512, 512],
    tapNames: ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3'],
    inputScaling: 'lpips',
    checkInputSize: () => {},
    forward: () => {
      throw new Error('not used');
    },
    dispose: () => {},
  };
}

const W0 = [0.1, 0.2, 0.3];
const W1 = [0.05, 0.4, 0, 1, 0.25, 0.6];
const linDict = (): Record<string, tf.Tensor> => ({
  'lin0.model.1.weight': tf.tensor4d(W0, [1, 3, 1, 1]),
  'lin1.model.1.weight': tf.tensor4d(W1, [1, 6, 1, 1]),
});

// LPIPS by hand in float64: images as [pixels][3].
function handLpips(x: number[][], y: number[][], w0: number[], w1: number[], scaling: boolean): number {
  const pre = (p: number[]): number[] =>
    scaling ? p.map((v, c) => (v - LPIPS_SHIFT[c]) / LPIPS_SCALE[c]) : p;
  const taps = (p: number[]): number[][] => [pre(p), [...pre(p), ...pre(p).map((v) => v * v)]];
  const unit = (f: number[]): number[] => {
    const n = Math.sqrt(f.reduce((a, v) => a + v * v, 0));
    return f.map((v) => v / (n + 1e-10));
  };
  let total = 0;
  [w0, w1].forEach((w, k) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) {
      const a = unit(taps(x[i])[k]);
      const b = unit(taps(y[i])[k]);
      s += a.reduce((acc, v, c) => acc + w[c] * (v - b[c]) ** 2, 0);
    }
    total += s / x.length;
  });
  return total;
}

const X = [
  [0.5, -0.2, 0.1],
  [-1, 0.3, 0.9],
  [0.2, 0.2, -0.6],
  [0.7, -0.8, 0.05],
];
const Y = [
  [0.4, 0.1, -0.3],
  [-0.5, 0.6, 0.9],
  [0.9, -0.1, -0.2],
  [0.1, 0.2, 0.3],
];
const img = (p: number[][]): tf.Tensor4D => tf.tensor4d(p.flat(), [1, 2, 2, 3]);

describe('Lpips head', () => {
  it('loads the v0.1 VGG lin weights with the published sums', async () => {
    const before = tf.memory().numTensors;
    const lpips = await loadLpips(vggShapedTrunk(), { lin: VGG_PTH });
    const sd = lpips.stateDict();
    expect(Object.keys(sd).sort()).toEqual([0, 1, 2, 3, 4].map((k) => `lin${k}.model.1.weight`));
    const want = [6.9259917, 8.85833401, 17.515006, 51.521323, 47.0348538];
    [64, 128, 256, 512, 512].forEach((c, k) => {
      const t = sd[`lin${k}.model.1.weight`];
      expect(t.shape).toEqual([1, c, 1, 1]);
      const s = Array.from(t.dataSync()).reduce((a, v) => a + v, 0);
      expect(Math.abs(s - want[k])).toBeLessThan(1e-5);
      expect(Math.min(...t.dataSync())).toBeGreaterThanOrEqual(0);
    });
    expect(lpips.linWeights).toBe('learned-v0.1');
    expect(lpips.trunkName).toBe('vgg-shaped');
    tf.dispose(Object.values(sd));
    lpips.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches a hand computation on a fake trunk with known taps (no scaling)', () => {
    const lpips = new Lpips(fakeTrunk('none'), { lin: linDict(), linKind: 'custom' });
    const r = lpips.compute(img(X), img(Y), { perTap: true });
    expect(r.distance.shape).toEqual([1]);
    expect(r.distance.dataSync()[0]).toBeCloseTo(handLpips(X, Y, W0, W1, false), 5);
    expect(r.perTap?.length).toBe(2);
    const sum = (r.perTap ?? []).reduce((a, t) => a + t.dataSync()[0], 0);
    expect(sum).toBeCloseTo(r.distance.dataSync()[0], 6);
    expect(r.trunkName).toBe('fake');
    expect(r.linWeights).toBe('custom');
  });

  it('applies the LPIPS scaling layer when the trunk asks for it', () => {
    const lpips = new Lpips(fakeTrunk('lpips'), { lin: linDict() });
    const d = lpips.forward(img(X), img(Y)).dataSync()[0];
    expect(d).toBeCloseTo(handLpips(X, Y, W0, W1, true), 5);
    expect(Math.abs(d - handLpips(X, Y, W0, W1, false))).toBeGreaterThan(1e-3);
  });

  it("'uniform' puts weight 1 on every channel (the lpips=False baseline)", () => {
    const lpips = new Lpips(fakeTrunk(), { lin: 'uniform' });
    const r = lpips.compute(img(X), img(Y));
    expect(r.linWeights).toBe('uniform');
    expect(r.distance.dataSync()[0]).toBeCloseTo(handLpips(X, Y, [1, 1, 1], [1, 1, 1, 1, 1, 1], false), 5);
  });

  it('is 0 on identical images, symmetric and non-negative, per sample', () => {
    const dict = linDict();
    const lpips = new Lpips(fakeTrunk('lpips'), { lin: dict });
    const a = tf.randomUniform([3, 4, 5, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const b = tf.randomUniform([3, 4, 5, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    expect(Array.from(lpips.forward(a, a).dataSync())).toEqual([0, 0, 0]);
    const ab = lpips.forward(a, b).dataSync();
    const ba = lpips.forward(b, a).dataSync();
    expect(ab.length).toBe(3);
    ab.forEach((v, i) => {
      expect(v).toBeGreaterThan(0);
      expect(ba[i]).toBeCloseTo(v, 6);
    });
  });

  it('has the gradient of the plain formula, finite even where a feature vector is all zeros', () => {
    const lpips = new Lpips(fakeTrunk('none'), { lin: linDict() });
    const y = img(Y);
    // Autodiff through the plain formula (sqrt of the channel sum): the reference.
    const plain = (x: tf.Tensor4D): tf.Tensor => {
      const unit = (f: tf.Tensor): tf.Tensor =>
        tf.div(f, tf.add(tf.sqrt(tf.sum(tf.square(f), 3, true)), 1e-10));
      const [fx, fy] = [fakeTrunk().forward(x), fakeTrunk().forward(y)];
      return tf.addN(
        [W0, W1].map((w, k) => tf.mean(tf.sum(tf.mul(tf.square(tf.sub(unit(fx[k]), unit(fy[k]))), w), 3))),
      );
    };
    const x = img(X);
    const ours = (t: tf.Tensor) => lpips.forward(t as tf.Tensor4D, y).sum();
    const gradAt = (f: (t: tf.Tensor) => tf.Tensor, at: tf.Tensor) => Array.from(tf.grad(f)(at).dataSync());
    const gRef = gradAt((t) => plain(t as tf.Tensor4D), x);
    gradAt(ours, x).forEach((v, i) => {
      expect(v).toBeCloseTo(gRef[i], 4);
    });
    // A pixel of zeros: the plain formula's gradient is NaN there, ours is finite.
    const x0 = tf.tensor4d([0, 0, 0, ...X.slice(1).flat()], [1, 2, 2, 3]);
    expect(gradAt(ours, x0).every(Number.isFinite)).toBe(true);
    expect(gradAt((t) => plain(t as tf.Tensor4D), x0).some(Number.isNaN)).toBe(true);
  });

  it('lets gradients flow to the input through a VGG16 trunk (finite, non-zero), without leaking', async () => {
    const dict = await readTensorDict(VGG_PTH);
    const lpips = new Lpips(vgg16Trunk(), { lin: dict });
    tf.dispose(Object.values(dict));
    const x = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const y = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const g = tf.grad((t: tf.Tensor) => tf.mean(lpips.forward(t as tf.Tensor4D, y)))(x);
    const gv = g.dataSync();
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(gv).every(Number.isFinite)).toBe(true);
    expect(Math.max(...Array.from(gv, Math.abs))).toBeGreaterThan(0);
    const r = lpips.compute(x, y, { perTap: true });
    tf.dispose([r.distance, ...(r.perTap ?? [])]);
    expect(tf.memory().numTensors).toBe(before);
    lpips.dispose();
  });

  it('rejects lin weights for another trunk, wrong shapes and bad images', async () => {
    const squeeze = await readTensorDict('/work/shared/weights/lpips-v0.1/squeeze.pth');
    const vgg = await readTensorDict(VGG_PTH);
    const trunk = vggShapedTrunk();
    const n = tf.memory().numTensors;
    expect(() => new Lpips(trunk, { lin: squeeze })).toThrow(
      /lin5.model.1.weight, lin6.model.1.weight, but trunk .* has 5 taps/,
    );
    expect(tf.memory().numTensors).toBe(n);
    const two = {
      'lin0.model.1.weight': vgg['lin0.model.1.weight'],
      'lin1.model.1.weight': vgg['lin1.model.1.weight'],
    };
    expect(() => new Lpips(fakeTrunk(), { lin: two })).toThrow(
      /lin0.model.1.weight' has shape \[1,64,1,1\].*\[1, 3, 1, 1\]/,
    );
    expect(() => new Lpips(fakeTrunk(), { lin: vgg })).toThrow(/lin2.*2 taps/);
    expect(() => new Lpips(fakeTrunk(), { lin: { 'lin0.model.1.weight': tf.zeros([1, 3, 1, 1]) } })).toThrow(
      /missing 'lin1/,
    );
    expect(() => new Lpips(fakeTrunk(), {} as never)).toThrow(/opts.lin/);
    const lpips = new Lpips(fakeTrunk(), { lin: 'uniform' });
    expect(() =>
      lpips.forward(tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, tf.zeros([1, 2, 2, 1]) as tf.Tensor4D),
    ).toThrow(/\[B, H, W, 3\]/);
    expect(() => lpips.forward(img(X), tf.zeros([1, 2, 3, 3]) as tf.Tensor4D)).toThrow(
      /y must have x's shape/,
    );
    const small = {
      ...fakeTrunk(),
      checkInputSize: () => {
        throw new Error('fake: at least 3 px');
      },
    };
    const smallLpips = new Lpips(small, { lin: 'uniform' });
    expect(() => smallLpips.forward(img(X), img(Y))).toThrow(/at least 3 px/);
    smallLpips.dispose();
    lpips.dispose();
    tf.dispose([...Object.values(squeeze), ...Object.values(vgg)]);
  });

  it("upsamples images below the trunk's minimum (resize 'auto', the default) exactly as by hand", () => {
    // The fake trunk with a minimum side of 8 px; images of at least 8 px are left as they are.
    const min8 = (): LpipsTrunk => ({
      ...fakeTrunk(),
      checkInputSize: (h: number, w: number) => {
        if (h < 8 || w < 8)
          throw new Error(`fake: input ${h}x${w} is too small; every side must be at least 8 px`);
      },
    });
    expect(LPIPS_UPSAMPLE_TO).toBe(64);
    const auto = new Lpips(min8(), { lin: linDict(), upsampleTo: 12 });
    const none = new Lpips(min8(), { lin: linDict(), resize: 'none' });
    expect(auto.resize).toBe('auto');
    expect(auto.upsampleTo).toBe(12);
    expect(none.resize).toBe('none');
    expect(auto.trunkInputSize(2, 2)).toEqual([12, 12]);
    expect(auto.trunkInputSize(5, 9)).toEqual([12, 9]);
    expect(auto.trunkInputSize(8, 8)).toEqual([8, 8]);
    // The default target is 64 px, and never below the trunk's minimum.
    expect(new Lpips(min8(), { lin: 'uniform' }).trunkInputSize(7, 7)).toEqual([64, 64]);
    expect(new Lpips(min8(), { lin: 'uniform', upsampleTo: 3 }).trunkInputSize(7, 7)).toEqual([8, 8]);
    const x = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const got = auto.forward(x, y);
    const r = auto.compute(x, y, { perTap: true });
    const xs = tf.image.resizeBilinear(x, [12, 12]);
    const ys = tf.image.resizeBilinear(y, [12, 12]);
    const want = none.forward(xs, ys);
    const g = Array.from(got.dataSync());
    g.forEach((v, i) => {
      expect(Number.isFinite(v)).toBe(true);
      expect(Math.abs(v - want.dataSync()[i])).toBeLessThan(1e-6);
    });
    expect(Array.from(r.distance.dataSync())).toEqual(g);
    expect(r.trunkInputSize).toEqual([12, 12]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(auto.forward(t as tf.Tensor4D, y)))(x);
    expect(grad.shape).toEqual([2, 5, 6, 3]);
    expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([got, want, xs, ys, grad, r.distance, ...(r.perTap ?? [])]);
    expect(tf.memory().numTensors).toBe(before);
    // resize 'none' refuses them with the trunk's message; bad shapes are refused in either mode.
    const grey = tf.zeros([1, 5, 5, 1]) as tf.Tensor4D;
    const empty = tf.zeros([1, 0, 5, 3]) as tf.Tensor4D;
    const turned = tf.zeros([2, 6, 5, 3]) as tf.Tensor4D;
    const before2 = tf.memory().numTensors;
    expect(() => none.forward(x, y)).toThrow(
      'fake: input 5x6 is too small; every side must be at least 8 px',
    );
    expect(() => none.trunkInputSize(5, 6)).toThrow(/at least 8 px/);
    expect(() => auto.forward(grey, grey)).toThrow(
      'Lpips: x must be [B, H, W, 3] in [-1, 1] with H, W >= 1, got [1,5,5,1]',
    );
    expect(() => auto.forward(empty, empty)).toThrow(/x must be \[B, H, W, 3\].*got \[1,0,5,3\]/);
    expect(() => auto.forward(x, turned)).toThrow("Lpips: y must have x's shape [2,5,6,3], got [2,6,5,3]");
    expect(tf.memory().numTensors).toBe(before2);
    tf.dispose([grey, empty, turned]);
    tf.dispose([x, y]);
    for (const l of [auto, none]) l.dispose();
  });

  it('rejects bad resize options before creating anything', () => {
    const n = tf.memory().numTensors;
    expect(() => new Lpips(fakeTrunk(), { lin: 'uniform', resize: 'bilinear' as never })).toThrow(
      `Lpips: opts.resize must be 'auto' or 'none', got "bilinear"`,
    );
    expect(() => new Lpips(fakeTrunk(), { lin: 'uniform', upsampleTo: 0 })).toThrow(
      'Lpips: opts.upsampleTo must be a positive integer, got 0',
    );
    expect(tf.memory().numTensors).toBe(n);
  });

  it('owns its trunk: dispose releases both', () => {
    const t = fakeTrunk();
    const lpips = new Lpips(t, { lin: 'uniform' });
    lpips.dispose();
    expect(t.disposed).toBe(true);
  });
});
