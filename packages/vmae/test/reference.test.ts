import { readFileSync } from 'node:fs';
import { createRng, fromTfTensors, parsePth, serializePth, setupBackend, toTfTensors } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { planMasking, readVMAE, resolveVMAEConfig, VMAE } from '../src/index.js';
import { MICRO_VMAE, maxAbsDiff, microVMAE, randomImages } from './helpers.js';

// Written by `python3 tools/bench/vmae_torch.py fixture` from an independent PyTorch implementation of
// the reference (torch.save of {"model": state_dict, "epoch", "args": Namespace, "expected": {...}}).
const FIXTURE = new URL('./fixtures/reference-tiny.pth', import.meta.url);
const FIXTURE_CONFIG = resolveVMAEConfig('f4d4-tiny', MICRO_VMAE);
const nchwToNhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('a PyTorch checkpoint in the reference layout', () => {
  const bytes = new Uint8Array(readFileSync(FIXTURE));
  const expected = () => {
    const all = parsePth(bytes, { unknownGlobals: 'stub' }).tensors;
    const picked = Object.fromEntries(
      Object.entries(all)
        .filter(([k]) => k.startsWith('expected.'))
        .map(([k, t]) => [k.slice('expected.'.length), t]),
    );
    return toTfTensors(picked);
  };

  it('infers the architecture, skips the LPIPS entries, and reproduces torch outputs', async () => {
    const r = await readVMAE(bytes, { preset: FIXTURE_CONFIG });
    const e = expected();
    const { model } = r;
    try {
      expect(r.format).toBe('reference');
      expect(r.ignored).toEqual(['perceptual_loss.lin0.model.1.weight']);
      expect(r.missing).toEqual([]);
      expect(r.unexpected).toEqual([]);
      expect(model.config).toEqual({ ...FIXTURE_CONFIG, maskToken: true });
      const x = nchwToNhwc(e.x) as tf.Tensor4D;
      // encode: latents come back NHWC; the reference returns NCHW (B, 4, 4, 4).
      const post = model.encode(x);
      expect(maxAbsDiff(post.mean, nchwToNhwc(e.enc_mean))).toBeLessThan(2e-5);
      expect(maxAbsDiff(post.logvar, nchwToNhwc(e.enc_logvar))).toBeLessThan(2e-5);
      const img = model.decode(post.mean as tf.Tensor4D);
      expect(maxAbsDiff(img, nchwToNhwc(e.dec))).toBeLessThan(2e-5);
      // The masked encoder with the same noise keeps the same tokens, in the same shuffled order.
      const noise = e.noise.dataSync();
      const enc = model.forwardEncoder(x, { maskRatio: 0.25, noise });
      const moments = model.toLatent.forward(enc.tokens);
      const [mean, logvar] = tf.split(moments, 2, -1);
      expect(maxAbsDiff(mean, e.masked_mean)).toBeLessThan(2e-5);
      expect(maxAbsDiff(tf.clipByValue(logvar, -30, 20), e.masked_logvar)).toBeLessThan(2e-5);
      // The stage-1 objective with z = mean (the reference samples; eps = 0 here).
      const out = model.forward(x, { noise, maskRatio: 0.25, sample: false });
      expect(Array.from(out.mask.dataSync())).toEqual(Array.from(e.mask.dataSync()));
      expect(maxAbsDiff(model.patchify(out.pred), e.pred)).toBeLessThan(2e-5);
      for (const k of ['loss', 'visible', 'masked', 'kl'] as const) {
        expect(out[k].dataSync()[0]).toBeCloseTo(e[k].dataSync()[0], 5);
      }
      const fixed = model.forward(x, { noise, maskRatio: 0.25, sample: false, klForm: { fixedStd: 1e-3 } });
      expect(fixed.kl.dataSync()[0] / e.kl_fixed.dataSync()[0]).toBeCloseTo(1, 5);
      tf.dispose([x, post.mean, post.logvar, img, enc.tokens, moments, mean, logvar]);
      tf.dispose([out.loss, out.masked, out.visible, out.kl, out.pred, out.mask]);
      tf.dispose([fixed.loss, fixed.masked, fixed.visible, fixed.kl, fixed.pred, fixed.mask]);
    } finally {
      model.dispose();
      tf.dispose(Object.values(e));
    }
  });

  it('strict mode lists what is left over; non-strict loads the rest and reports it', async () => {
    const all = parsePth(bytes, { unknownGlobals: 'stub' }).tensors;
    all['model.extra_head.weight'] = { dtype: 'float32', shape: [2], data: new Float32Array(2) };
    delete all['model.decoder_norm.bias'];
    const edited = serializePth(all);
    await expect(readVMAE(edited, { preset: FIXTURE_CONFIG })).rejects.toThrow(
      /Missing: decoder_norm\.bias\. Left over: extra_head\.weight/,
    );
    const before = tf.memory().numTensors;
    const r = await readVMAE(edited, { preset: FIXTURE_CONFIG, strict: false });
    expect(r.missing).toEqual(['decoder_norm.bias']);
    expect(r.unexpected).toEqual(['extra_head.weight']);
    // The missing bias keeps its initial value (LayerNorm bias 0).
    expect(Array.from(r.model.decoderNorm.bias!.dataSync())).toEqual(new Array(32).fill(0));
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a preset whose dimensions disagree with the weights, before building anything', async () => {
    const before = tf.memory().numTensors;
    await expect(readVMAE(bytes)).rejects.toThrow(/differs from preset 'f8d16': patchSize 4 \(preset 8\)/);
    await expect(readVMAE(bytes, { preset: 'f4d4-tiny' })).rejects.toThrow(/embedDim 32 \(preset 64\)/);
    const shapes = parsePth(bytes, { unknownGlobals: 'stub' }).tensors;
    shapes['model.decoder_pred.conv_smoother.weight'] = {
      dtype: 'float32',
      shape: [3, 3, 5, 5],
      data: new Float32Array(225),
    };
    await expect(readVMAE(serializePth(shapes), { preset: FIXTURE_CONFIG })).rejects.toThrow(
      /'decoder_pred\.conv_smoother\.weight' has shape \[3,3,5,5\], the model needs \[3,3,3,3\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('our own model written in the reference layout', () => {
  it('loads back through the .pth importer and gives exactly the same outputs', async () => {
    const a = microVMAE({}, 7);
    // Give every parameter a non-initial value so nothing can pass by coincidence.
    const rng = createRng(3);
    for (const v of a.parameters()) v.assign(tf.add(v, tf.mul(rng.normal(v.shape), 0.02)));
    const sd = a.stateDict();
    const host = await fromTfTensors(sd);
    tf.dispose(Object.values(sd));
    const nested = Object.fromEntries(Object.entries(host).map(([k, t]) => [`model.${k}`, t]));
    const { model: b } = await readVMAE(serializePth(nested), { preset: a.config });
    const x = randomImages(3, 16, 16);
    const noise = createRng(9).uniformArray(3 * 16);
    const run = (m: VMAE) => {
      const o = m.forward(x, { noise, rng: createRng(5) });
      const rec = m.reconstruct(x);
      return [o.loss, o.pred, o.kl, rec, o.masked, o.visible, o.mask];
    };
    const ra = run(a);
    const rb = run(b);
    ra.forEach((t, i) => {
      expect(maxAbsDiff(t, rb[i])).toBe(0);
    });
    tf.dispose([...ra, ...rb, x]);
    a.dispose();
    b.dispose();
  });

  it('the conv and matmul patch embeddings agree, with and without a masking plan', () => {
    const a = microVMAE({}, 2);
    const x = randomImages(2, 16, 16, 4);
    const plan = planMasking(2, 16, 0.25, createRng(3));
    const e1 = a.embed(x);
    const k1 = a.embed(x, plan);
    a.patchEmbedImpl = 'conv';
    const e2 = a.embed(x);
    const k2 = a.embed(x, plan);
    expect(maxAbsDiff(e1, e2)).toBeLessThan(1e-5);
    expect(k1.shape).toEqual([2, 12, 32]);
    expect(maxAbsDiff(k1, k2)).toBeLessThan(1e-5);
    // Selecting rows before the embedding equals embedding all tokens, then MAE's random_masking.
    const { x: k3, mask, idsRestore } = a.randomMasking(e2, 0.25, createRng(3));
    expect(maxAbsDiff(k1, k3)).toBeLessThan(1e-5);
    tf.dispose([x, e1, e2, k1, k2, k3, mask, idsRestore]);
    a.dispose();
    expect(a).toBeInstanceOf(VMAE);
  });
});
