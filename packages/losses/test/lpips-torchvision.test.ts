import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alexnetTrunk, type TorchvisionTrunk, vgg16Trunk } from '../src/index.js';

let vgg: TorchvisionTrunk;
let other: TorchvisionTrunk;
let alex: TorchvisionTrunk;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  vgg = vgg16Trunk();
  other = vgg16Trunk({ rng: createRng(7) });
  alex = alexnetTrunk();
});

afterAll(() => {
  vgg.dispose();
  other.dispose();
  alex.dispose();
});

// torchvision.models.vgg16().features: cfg D = [64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M].
const VGG_CONVS: [number, number, number][] = [
  [0, 3, 64],
  [2, 64, 64],
  [5, 64, 128],
  [7, 128, 128],
  [10, 128, 256],
  [12, 256, 256],
  [14, 256, 256],
  [17, 256, 512],
  [19, 512, 512],
  [21, 512, 512],
  [24, 512, 512],
  [26, 512, 512],
  [28, 512, 512],
];

describe('vgg16Trunk', () => {
  it("has torchvision's vgg16 features.* names and shapes", () => {
    const want: Record<string, number[]> = {};
    for (const [i, cin, cout] of VGG_CONVS) {
      want[`features.${i}.weight`] = [cout, cin, 3, 3];
      want[`features.${i}.bias`] = [cout];
    }
    expect(vgg.stateDictShapes()).toEqual(want);
    // 14,714,688 numbers: torchvision's vgg16 features parameter count.
    expect(Object.values(want).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)).toBe(14714688);
    expect(vgg.parameters()).toEqual([]);
    expect(vgg.tapChannels).toEqual([64, 128, 256, 512, 512]);
    expect(vgg.tapNames).toEqual(['features.3', 'features.8', 'features.15', 'features.22', 'features.29']);
    expect(vgg.inputScaling).toBe('lpips');
  });

  it('returns five post-ReLU taps at H, H/2, H/4, H/8, H/16', () => {
    const x = tf.randomUniform([2, 32, 48, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const taps = vgg.forward(x);
    expect(taps.map((t) => t.shape)).toEqual([
      [2, 32, 48, 64],
      [2, 16, 24, 128],
      [2, 8, 12, 256],
      [2, 4, 6, 512],
      [2, 2, 3, 512],
    ]);
    for (const t of taps) expect((t.dataSync() as Float32Array).reduce((a, v) => Math.min(a, v), 0)).toBe(0);
    tf.dispose(taps);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => vgg.forward(tf.zeros([1, 15, 32, 3]) as tf.Tensor4D)).toThrow(/at least 16 px/);
    expect(() => vgg.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D)).toThrow(/\[B, H, W, 3\]/);
  });

  it('loads a torchvision state dict by name, ignoring classifier.*, and then drops "(random init)"', () => {
    const src = vgg;
    const dst = other;
    expect(dst.name).toBe('torchvision-vgg16 (random init)');
    const sd = src.stateDict();
    sd['classifier.0.weight'] = tf.zeros([4096, 25088 / 64]);
    const ignored = dst.loadTorchvisionStateDict(sd);
    expect(ignored).toEqual(['classifier.0.weight']);
    expect(dst.name).toBe('torchvision-vgg16');
    const x = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 8) as tf.Tensor4D;
    const a = src.forward(x);
    const b = dst.forward(x);
    a.forEach((t, k) => {
      expect(tf.max(tf.abs(tf.sub(t, b[k]))).dataSync()[0]).toBe(0);
    });
    // A partial or mis-shaped dict is refused before anything is assigned.
    const bad = { ...sd, 'features.28.weight': tf.zeros([512, 512, 1, 1]) };
    expect(() => dst.loadTorchvisionStateDict(bad)).toThrow(/features.28.weight' has shape \[512,512,1,1\]/);
    const partial = { 'features.0.weight': sd['features.0.weight'] };
    expect(() => dst.loadTorchvisionStateDict(partial)).toThrow(/Missing: features.0.bias/);
    const still = dst.forward(x);
    still.forEach((t, k) => {
      expect(tf.max(tf.abs(tf.sub(t, a[k]))).dataSync()[0]).toBe(0);
    });
    tf.dispose([...Object.values(sd), ...a, ...b, ...still, bad['features.28.weight']]);
  });
});

it('computes relu(conv(x) + b) with the PyTorch-layout weights at tap 0', () => {
  // A hand-made first layer: out channel o of conv 0 sums input channel o % 3 over the 3x3 window.
  const w0 = tf.buffer([64, 3, 3, 3]);
  for (let o = 0; o < 64; o++)
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) w0.set(1, o, o % 3, i, j);
  const sd = vgg.stateDict();
  sd['features.0.weight'].dispose();
  sd['features.0.bias'].dispose();
  sd['features.0.weight'] = w0.toTensor();
  sd['features.0.bias'] = tf.fill([64], -0.5);
  sd['features.2.weight'].dispose();
  // features.2 as identity on channels: centre tap only.
  const w2 = tf.buffer([64, 64, 3, 3]);
  for (let o = 0; o < 64; o++) w2.set(1, o, o, 1, 1);
  sd['features.2.weight'] = w2.toTensor();
  sd['features.2.bias'].dispose();
  sd['features.2.bias'] = tf.zeros([64]);
  const t = other;
  t.loadStateDict(sd);
  tf.dispose(Object.values(sd));
  const x = tf.tensor4d([1, 2, 3, 0.5, -1, 0, 0, 0, 2, -3, 1, 1], [1, 2, 2, 3]);
  // Padding 1 on a 2x2 image: every 3x3 window covers all four pixels.
  const sums = [1 + 0.5 + 0 - 3, 2 - 1 + 0 + 1, 3 + 0 + 2 + 1];
  // Tap 0 needs >= 16 px for the later taps, so read the first block directly.
  const conv0 = t.forward(
    tf.pad(x, [
      [0, 0],
      [0, 14],
      [0, 14],
      [0, 0],
    ]) as tf.Tensor4D,
  )[0];
  const y = conv0.slice([0, 0, 0, 0], [1, 1, 1, 64]).dataSync();
  // At (0, 0) the window of conv 0 covers pixels (0..1, 0..1): the sums above.
  for (let o = 0; o < 64; o++) expect(y[o]).toBeCloseTo(Math.max(0, Math.max(0, sums[o % 3] - 0.5)), 5);
  expect(t.name).toBe('torchvision-vgg16');
});

describe('alexnetTrunk', () => {
  it("has torchvision's alexnet features.* names and shapes and five taps 64/192/384/256/256", () => {
    expect(alex.stateDictShapes()).toEqual({
      'features.0.weight': [64, 3, 11, 11],
      'features.0.bias': [64],
      'features.3.weight': [192, 64, 5, 5],
      'features.3.bias': [192],
      'features.6.weight': [384, 192, 3, 3],
      'features.6.bias': [384],
      'features.8.weight': [256, 384, 3, 3],
      'features.8.bias': [256],
      'features.10.weight': [256, 256, 3, 3],
      'features.10.bias': [256],
    });
    expect(alex.tapChannels).toEqual([64, 192, 384, 256, 256]);
    const taps = alex.forward(tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 6) as tf.Tensor4D);
    // 64 -> conv 11/4 pad 2: 15 -> pool 3/2: 7 -> conv 5 pad 2: 7 -> pool 3/2: 3 -> 3 -> 3.
    expect(taps.map((t) => t.shape)).toEqual([
      [1, 15, 15, 64],
      [1, 7, 7, 192],
      [1, 3, 3, 384],
      [1, 3, 3, 256],
      [1, 3, 3, 256],
    ]);
    expect(alex.tapSizes(224, 224)).toEqual([
      [55, 55],
      [27, 27],
      [13, 13],
      [13, 13],
      [13, 13],
    ]);
    expect(() => alex.checkInputSize(30, 30)).toThrow(/at least 31 px/);
    tf.dispose(taps);
  });
});
