import { createRng, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countVMAENumbers,
  createVMAE,
  DEFAULT_VMAE_PRESET,
  resolveVMAEConfig,
  VMAE,
  VMAE_PRESETS,
  type VMAEPresetName,
  vmaeStateDictShapes,
} from '../src/index.js';
import { maxAbsDiff, microVMAE, randomImages } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('presets and size', () => {
  it("f8d16 holds 11,191,412 numbers with its pos-embeds at 256 px (the paper's 42.7 MB)", () => {
    const before = tf.memory().numTensors;
    const m = createVMAE('f8d16', { maskToken: false });
    const n = m.numParameters(true);
    expect(n).toBe(11_191_412);
    expect((n * 4) / 2 ** 20).toBeCloseTo(42.69, 2);
    // Trainable parameters exclude the two fixed embeddings (2 x 1024 x 192).
    expect(m.numParameters()).toBe(11_191_412 - 2 * 1024 * 192);
    expect(countVMAENumbers(m.config)).toBe(n);
    const shapes = m.stateDictShapes();
    expect(shapes).toEqual(vmaeStateDictShapes(m.config));
    // The reference's names and PyTorch shapes (shared/spec/vmae.md).
    expect(shapes.pos_embed).toEqual([1, 1024, 192]);
    expect(shapes['patch_embed.proj.weight']).toEqual([192, 3, 8, 8]);
    expect(shapes['blocks.11.attn.qkv.weight']).toEqual([576, 192]);
    expect(shapes['blocks.0.mlp.fc1.weight']).toEqual([768, 192]);
    expect(shapes['to_latent.weight']).toEqual([32, 192]);
    expect(shapes['from_latent.weight']).toEqual([192, 16]);
    expect(shapes['decoder_pred.linear_pred.weight']).toEqual([192, 192]);
    expect(shapes['decoder_pred.conv_smoother.weight']).toEqual([3, 3, 3, 3]);
    expect(shapes.mask_token).toBeUndefined();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the mask token adds 192 numbers; every preset counts in closed form', () => {
    for (const name of Object.keys(VMAE_PRESETS) as VMAEPresetName[]) {
      const cfg = resolveVMAEConfig(name);
      expect(cfg.maskToken).toBe(true);
      if (name !== 'f8d16' && name !== 'f8d16-small') {
        const m = createVMAE(name);
        expect(m.numParameters(true)).toBe(countVMAENumbers(cfg));
        m.dispose();
      }
    }
    expect(countVMAENumbers(resolveVMAEConfig('f8d16'))).toBe(11_191_412 + 192);
    // Stage 1 at 128 px: 256 tokens per pos-embed instead of 1024.
    expect(countVMAENumbers(resolveVMAEConfig('f8d16', { imgSize: 128, maskToken: false }))).toBe(
      11_191_412 - 2 * (1024 - 256) * 192,
    );
  });

  it("the default preset is 'f4d4-tiny': createVMAE() without a preset builds it", () => {
    expect(DEFAULT_VMAE_PRESET).toBe('f4d4-tiny');
    const before = tf.memory().numTensors;
    const m = createVMAE();
    expect(m.config).toEqual(resolveVMAEConfig('f4d4-tiny'));
    m.dispose();
    const d = createVMAE(undefined, { imgSize: 28 });
    expect(d.config).toEqual(resolveVMAEConfig('f4d4-tiny', { imgSize: 28 }));
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad configs naming the field', () => {
    expect(() => resolveVMAEConfig('f4d4-tiny', { imgSize: 30 })).toThrow(
      /imgSize \[30, 30\] must be divisible by patchSize 4/,
    );
    expect(() => resolveVMAEConfig('f4d4-tiny', { numHeads: 3 })).toThrow(
      /embedDim \/ numHeads must divide evenly/,
    );
    expect(() => resolveVMAEConfig('f4d4-tiny', { embedDim: 66, numHeads: 2 })).toThrow(/multiple of 4/);
    expect(() => resolveVMAEConfig('nope' as VMAEPresetName)).toThrow(/unknown preset 'nope'/);
  });
});

describe('encode / decode', () => {
  let m: VMAE;
  beforeAll(() => {
    m = microVMAE();
  });
  afterAll(() => m.dispose());

  it('maps [B, H, W, 3] to NHWC latents [B, H/p, W/p, c] and back, at any size divisible by p', () => {
    for (const [h, w] of [
      [16, 16],
      [24, 8],
    ]) {
      const x = randomImages(2, h, w);
      const before = tf.memory().numTensors;
      const post = m.encode(x);
      expect(post.mean.shape).toEqual([2, h / 4, w / 4, 4]);
      expect(post.logvar.shape).toEqual([2, h / 4, w / 4, 4]);
      expect(m.latentShape([h, w, 3])).toEqual([h / 4, w / 4, 4]);
      const z = post.sample(createRng(1));
      const y = m.decode(z as tf.Tensor4D);
      expect(y.shape).toEqual([2, h, w, 3]);
      const r = m.reconstruct(x);
      expect(r.shape).toEqual([2, h, w, 3]);
      tf.dispose([z, y, r]);
      post.dispose();
      // A second size leaves one cached resized pos-embed per embedding; nothing else.
      expect(tf.memory().numTensors).toBe(before + (h === 16 ? 0 : 2));
      x.dispose();
    }
  });

  it('other sizes use bilinearly resized positional embeddings; setImageSize makes them the stored ones', () => {
    const a = microVMAE({}, 3);
    const x = randomImages(1, 24, 8);
    const r1 = a.reconstruct(x);
    a.setImageSize([24, 8]);
    expect(a.config.imgSize).toEqual([24, 8]);
    expect(a.stateDictShapes().pos_embed).toEqual([1, 12, 32]);
    const r2 = a.reconstruct(x);
    expect(maxAbsDiff(r1, r2)).toBe(0);
    tf.dispose([x, r1, r2]);
    a.dispose();
  });

  it('gives clear errors for bad input, before any work', () => {
    const before = tf.memory().numTensors;
    const grey = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
    const odd = tf.zeros([1, 18, 16, 3]) as tf.Tensor4D;
    const hot = tf.fill([1, 16, 16, 3], 1.5) as tf.Tensor4D;
    expect(() => m.encode(grey)).toThrow(/must have 3 channels .* got 1 .*repeat grey images to RGB/);
    expect(() => m.encode(odd)).toThrow(/is 18x16, which is not divisible by the patch size 4/);
    expect(() => m.encode(hot)).toThrow(
      /values must lie in \[-1, 1\].*got \[1\.5, 1\.5\].*inputRange: 'clamp'/,
    );
    expect(() => m.forward(hot, { rng: createRng(0) })).toThrow(/values must lie in \[-1, 1\]/);
    expect(() => m.decode(tf.zeros([1, 4, 4, 5]) as tf.Tensor4D)).toThrow(/z must be latents \[B, h, w, 4\]/);
    expect(() => m.forward(grey, { rng: createRng(0) })).toThrow(/3 channels/);
    expect(() => m.forward(tf.zeros([1, 16, 16, 3]), { maskRatio: 0.25 })).toThrow(
      /needs opts\.rng or opts\.noise/,
    );
    expect(tf.memory().numTensors).toBe(before + 3 + 2); // our inputs plus the two zeros above
    // clamp: the same as feeding clipped values
    m.inputRange = 'clamp';
    const a = m.reconstruct(hot);
    m.inputRange = 'throw';
    const ones = tf.ones([1, 16, 16, 3]) as tf.Tensor4D;
    const b = m.reconstruct(ones);
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([grey, odd, hot, a, b, ones]);
  });
});

describe('the training forward', () => {
  it('returns every term, with the mask ratio and shapes of the reference', () => {
    const m = microVMAE();
    const x = randomImages(3, 16, 16);
    const before = tf.memory().numTensors;
    const o = m.forward(x, { rng: createRng(1) });
    expect(o.pred.shape).toEqual([3, 16, 16, 3]);
    expect(o.mask.shape).toEqual([3, 16]);
    expect(tf.tidy(() => o.mask.sum().dataSync()[0])).toBe(3 * 4); // 16 - int(16 * 0.75) masked per sample
    expect(o.lpips).toBeNull();
    expect(o.weights).toEqual({ visible: 0.75, lpips: 0, kl: 1e-6 });
    for (const t of [o.loss, o.masked, o.visible, o.kl]) expect(Number.isFinite(t.dataSync()[0])).toBe(true);
    tf.dispose([o.loss, o.masked, o.visible, o.kl, o.pred, o.mask]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    m.dispose();
  });

  it('has gradients that match central differences (masking, mask token, sampling, conv smoother)', async () => {
    await setupBackend({ backend: 'cpu' });
    try {
      const m = microVMAE({ depth: 1, decoderDepth: 1 }, 11);
      const x = randomImages(2, 16, 16, 6);
      const noise = createRng(8).uniformArray(2 * 16);
      const lossAt = () =>
        m.forward(x, {
          noise,
          rng: createRng(4),
          maskRatio: 0.5,
          klWeight: 0.1,
          lpips: (a, b) => tf.mean(tf.abs(tf.sub(a, b)), [1, 2, 3]),
        }).loss;
      const vars = m.parameters();
      const { value, grads } = tf.variableGrads(() => lossAt(), vars);
      value.dispose();
      const dir = vars.map((v) => createRng(v.size).normal(v.shape));
      let analytic = 0;
      vars.forEach((v, i) => {
        const g = grads[v.name];
        analytic += tf.sum(tf.mul(g, dir[i])).dataSync()[0];
      });
      const eps = 1e-3;
      const shift = (s: number) =>
        vars.forEach((v, i) => {
          v.assign(tf.tidy(() => tf.add(v, tf.mul(dir[i], s))));
        });
      shift(eps);
      const up = tf.tidy(() => lossAt().dataSync()[0]);
      shift(-2 * eps);
      const down = tf.tidy(() => lossAt().dataSync()[0]);
      shift(eps);
      const numeric = (up - down) / (2 * eps);
      expect(Math.abs(numeric - analytic) / Math.abs(analytic)).toBeLessThan(2e-2);
      // The mask token and the smoother get non-zero gradients.
      expect(tf.sum(tf.abs(grads[m.maskToken!.name])).dataSync()[0]).toBeGreaterThan(0);
      expect(tf.sum(tf.abs(grads[m.decoderPred.convSmoother.weight.name])).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([...Object.values(grads), ...dir, x]);
      m.dispose();
    } finally {
      await setupBackend({ backend: 'wasm' });
    }
  });

  it('a model without mask token decodes unmasked but refuses masked training', () => {
    const m = microVMAE({ maskToken: false });
    const x = randomImages(1, 16, 16);
    expect(() => m.forward(x, { rng: createRng(0) })).toThrow(/needs a mask_token/);
    const o = m.forward(x, { maskRatio: 0, sample: false });
    expect(o.masked.dataSync()[0]).toBe(0);
    tf.dispose([o.loss, o.masked, o.visible, o.kl, o.pred, o.mask, x]);
    m.dispose();
    expect(m).toBeInstanceOf(VMAE);
  });
});
