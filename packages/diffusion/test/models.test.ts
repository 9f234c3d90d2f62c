import { fileURLToPath } from 'node:url';
import { createRng, patchify, readTensorFileToTf, setupBackend, unpatchify } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  countParameters,
  type DenoiserConfig,
  DiT,
  denoiserFromConfig,
  ditConfig,
  LightningDiT,
  lightningDiTConfig,
} from '../src/index.js';
import { PatchEmbed } from '../src/models/layers.js';
import { maxAbsDiff, randomize } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

const nano = { inputSize: 8, inChannels: 4, numClasses: 3 } as const;

describe('adaLN-Zero initialisation', () => {
  const cases: [string, () => LightningDiT | DiT][] = [
    [
      'LightningDiT p=1 qk-norm',
      () => new LightningDiT({ preset: 'LightningDiT-Nano/1', ...nano, qkNorm: true }),
    ],
    ['LightningDiT p=2', () => new LightningDiT({ preset: 'LightningDiT-Nano/2', ...nano })],
    ['DiT p=2 learnSigma', () => new DiT({ preset: 'DiT-Nano/2', ...nano })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: an untrained model outputs exactly zero`, () => {
      const m = make();
      const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1);
      const before = tf.memory().numTensors;
      const out = m.forward(x, [0.25, 0.9], [0, 2]);
      expect(out.shape).toEqual([2, 8, 8, 4]);
      expect(Array.from(out.dataSync()).every((v) => v === 0)).toBe(true);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      m.dispose();
    });
  }

  it('the zero comes from the zero-initialised output layers, not from dead inputs', () => {
    const m = new LightningDiT({ preset: 'LightningDiT-Nano/1', ...nano });
    randomize(m, 3, 0.2);
    const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 2);
    const a = m.forward(x, [0.3, 0.3], [0, 1]);
    const b = m.forward(x, [0.3, 0.7], [0, 1]);
    const c = m.forward(x, [0.3, 0.3], [0, 0]);
    const sa = tf.split(a, 2, 0);
    const sb = tf.split(b, 2, 0);
    const sc = tf.split(c, 2, 0);
    expect(maxAbsDiff(sa[0], sb[0])).toBe(0); // same t and label for sample 0
    expect(maxAbsDiff(sa[1], sb[1])).toBeGreaterThan(1e-3); // t changed
    expect(maxAbsDiff(sa[1], sc[1])).toBeGreaterThan(1e-3); // label changed
    tf.dispose([x, a, b, c, ...sa, ...sb, ...sc]);
    m.dispose();
  });
});

describe('parity with a PyTorch implementation of the reference definitions', () => {
  // Fixtures written by tools/bench/dit_torch.py fixture (seeded random weights everywhere).
  const fixtures: [string, DenoiserConfig][] = [
    [
      'lightningdit-p2',
      lightningDiTConfig({
        inputSize: 8,
        patchSize: 2,
        inChannels: 4,
        hiddenSize: 16,
        depth: 2,
        numHeads: 2,
        numClasses: 3,
        qkNorm: true,
      }),
    ],
    [
      'lightningdit-p1-variant',
      lightningDiTConfig({
        inputSize: 4,
        patchSize: 1,
        inChannels: 3,
        hiddenSize: 16,
        depth: 2,
        numHeads: 2,
        mlpRatio: 2,
        numClasses: 2,
        learnSigma: true,
        qkNorm: true,
        swiglu: false,
        rmsNorm: false,
        woShift: true,
      }),
    ],
    [
      'dit-p2',
      ditConfig({
        inputSize: 8,
        patchSize: 2,
        inChannels: 4,
        hiddenSize: 16,
        depth: 2,
        numHeads: 4,
        numClasses: 5,
      }),
    ],
  ];
  for (const [name, config] of fixtures) {
    it(`${name}: loads the PyTorch state dict strictly and reproduces its output`, async () => {
      const path = fileURLToPath(new URL(`./fixtures/${name}.safetensors`, import.meta.url));
      const all = await readTensorFileToTf(path);
      const m = denoiserFromConfig(config, { seed: 5 });
      const dict = Object.fromEntries(
        Object.entries(all).filter(([k]) => !k.startsWith('input.') && k !== 'output'),
      );
      expect(Object.keys(m.stateDictShapes()).sort()).toEqual(Object.keys(dict).sort());
      m.loadStateDict(dict);
      const out = m.forwardFull(all['input.x'], all['input.t'], all['input.y']);
      expect(out.shape).toEqual(all.output.shape);
      expect(maxAbsDiff(out, all.output)).toBeLessThan(2e-4);
      // A reloaded copy from the config gives the same numbers.
      const again = denoiserFromConfig(m.toJSON());
      const sd = m.stateDict();
      again.loadStateDict(sd);
      const out2 = again.forwardFull(all['input.x'], all['input.t'], all['input.y']);
      expect(maxAbsDiff(out, out2)).toBe(0);
      tf.dispose([out, out2, ...Object.values(all), ...Object.values(sd)]);
      m.dispose();
      again.dispose();
    });
  }
});

describe('state dict names follow the reference modules', () => {
  it('LightningDiT with every feature', () => {
    const m = new LightningDiT({
      inputSize: 4,
      patchSize: 1,
      inChannels: 2,
      hiddenSize: 16,
      depth: 1,
      numHeads: 2,
      numClasses: 3,
      qkNorm: true,
    });
    const shapes = m.stateDictShapes();
    expect(shapes).toEqual({
      'x_embedder.proj.weight': [16, 2, 1, 1],
      'x_embedder.proj.bias': [16],
      't_embedder.mlp.0.weight': [16, 256],
      't_embedder.mlp.0.bias': [16],
      't_embedder.mlp.2.weight': [16, 16],
      't_embedder.mlp.2.bias': [16],
      'y_embedder.embedding_table.weight': [4, 16],
      pos_embed: [1, 16, 16],
      'feat_rope.freqs_cos': [16, 8],
      'feat_rope.freqs_sin': [16, 8],
      'blocks.0.norm1.weight': [16],
      'blocks.0.attn.qkv.weight': [48, 16],
      'blocks.0.attn.qkv.bias': [48],
      'blocks.0.attn.q_norm.weight': [8],
      'blocks.0.attn.k_norm.weight': [8],
      'blocks.0.attn.proj.weight': [16, 16],
      'blocks.0.attn.proj.bias': [16],
      'blocks.0.norm2.weight': [16],
      'blocks.0.mlp.w12.weight': [84, 16],
      'blocks.0.mlp.w12.bias': [84],
      'blocks.0.mlp.w3.weight': [16, 42],
      'blocks.0.mlp.w3.bias': [16],
      'blocks.0.adaLN_modulation.1.weight': [96, 16],
      'blocks.0.adaLN_modulation.1.bias': [96],
      'final_layer.norm_final.weight': [16],
      'final_layer.linear.weight': [2, 16],
      'final_layer.linear.bias': [2],
      'final_layer.adaLN_modulation.1.weight': [32, 16],
      'final_layer.adaLN_modulation.1.bias': [32],
    });
    m.dispose();
  });

  it('an unconditional model without label dropout has no null class', () => {
    const m = new LightningDiT({
      preset: 'LightningDiT-Nano/1',
      inputSize: 4,
      inChannels: 2,
      numClasses: 1,
      classDropoutProb: 0,
    });
    expect(m.nullClass).toBeNull();
    expect(m.stateDictShapes()['y_embedder.embedding_table.weight']).toEqual([1, 64]);
    // Its one-row label table takes every label as row 0, forward and backward (tf.oneHot needs depth >= 2).
    const x = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 3);
    const t = tf.tensor1d([0.3, 0.7]);
    const y = tf.tensor1d([0, 0], 'int32');
    const out = m.forward(x, t, y);
    expect(out.shape).toEqual([2, 4, 4, 2]);
    const { grads } = tf.variableGrads(() => tf.sum(m.forward(x, t, y)) as tf.Scalar);
    const table = m.namedParameters().find(([k]) => k === 'y_embedder.embedding_table.weight')![1];
    const tableGrad = grads[table.name];
    expect(tableGrad?.shape).toEqual([1, 64]);
    tf.dispose([x, t, y, out, ...Object.values(grads)]);
    m.dispose();
  });
});

describe('parameter counts', () => {
  it('the closed form equals the built models, over a spread of configs', () => {
    const configs: DenoiserConfig[] = [
      lightningDiTConfig({ preset: 'LightningDiT-Nano/1', inputSize: [4, 6], inChannels: 3, numClasses: 7 }),
      lightningDiTConfig({
        preset: 'LightningDiT-Nano/2',
        inputSize: 8,
        inChannels: 4,
        qkNorm: true,
        learnSigma: true,
      }),
      lightningDiTConfig({
        preset: 'LightningDiT-Nano/1',
        inputSize: 4,
        inChannels: 2,
        rmsNorm: false,
        qkNorm: true,
        swiglu: false,
        woShift: true,
        rope: false,
        mlpRatio: 3,
      }),
      lightningDiTConfig({
        preset: 'LightningDiT-Nano/1',
        inputSize: 4,
        inChannels: 2,
        numClasses: 1,
        classDropoutProb: 0,
      }),
      ditConfig({ preset: 'DiT-Nano/2', inputSize: 8, inChannels: 4 }),
      ditConfig({ preset: 'DiT-Nano/1', inputSize: 4, inChannels: 3, learnSigma: false, numClasses: 10 }),
    ];
    for (const c of configs) {
      const m = denoiserFromConfig(c);
      const n = countParameters(c);
      expect(n.trainable).toBe(m.numParameters());
      expect(n.trainable + n.posEmbed + n.ropeBuffers).toBe(m.numParameters(true));
      m.dispose();
    }
  });

  // sum(p.numel() for p in model.parameters()) of tools/bench/dit_torch.py's PyTorch models built
  // from the reference definitions (pos_embed included, as the reference scripts print it). DiT-XL/2's
  // 675,129,632 is also the figure DiT's own training log reports.
  const paper: [string, DenoiserConfig, number, number][] = [
    ['DiT-S/2', ditConfig({ preset: 'DiT-S/2', inputSize: 32, inChannels: 4 }), 32_865_056, 32_963_360],
    ['DiT-B/2', ditConfig({ preset: 'DiT-B/2', inputSize: 32, inChannels: 4 }), 130_315_808, 130_512_416],
    ['DiT-L/2', ditConfig({ preset: 'DiT-L/2', inputSize: 32, inChannels: 4 }), 457_840_672, 458_102_816],
    ['DiT-XL/2', ditConfig({ preset: 'DiT-XL/2', inputSize: 32, inChannels: 4 }), 674_834_720, 675_129_632],
    [
      'LightningDiT-B/1 (ImageNet, qk-norm)',
      lightningDiTConfig({ preset: 'LightningDiT-B/1', inputSize: 32, inChannels: 16, qkNorm: true }),
      130_336_528,
      131_122_960,
    ],
    [
      'LightningDiT-B/1 (CelebA-HQ, unconditional)',
      lightningDiTConfig({
        preset: 'LightningDiT-B/1',
        inputSize: 32,
        inChannels: 16,
        numClasses: 1,
        classDropoutProb: 0,
      }),
      129_566_992,
      130_353_424,
    ],
  ];
  for (const [name, c, trainable, torch] of paper) {
    it(`${name}: ${torch.toLocaleString('en')} parameters`, () => {
      const n = countParameters(c);
      expect(n.trainable).toBe(trainable);
      expect(n.torchParameters).toBe(torch);
    });
  }
});

describe('RoPE and patches', () => {
  it("the model's rotary embedding rotates channel pairs by hand-computed angles", () => {
    const m = new LightningDiT({
      inputSize: 6,
      patchSize: 2,
      inChannels: 1,
      hiddenSize: 16,
      depth: 1,
      numHeads: 2,
    });
    const rope = m.featRope!.rope;
    const hd = 8;
    const grid = 3;
    const x = tf.randomNormal([1, 1, grid * grid, hd], 0, 1, 'float32', 4);
    const y = rope.forward(x);
    const xv = x.dataSync();
    const yv = y.dataSync();
    for (let tok = 0; tok < grid * grid; tok++) {
      const r = Math.floor(tok / grid);
      const c = tok % grid;
      for (let j = 0; j < hd; j += 2) {
        // First half of the head: the row; second half: the column. Pair i of a half (length 4)
        // turns by pos * 10000^(-2i / 4).
        const half = hd / 2;
        const pos = j < half ? r : c;
        const i = (j % half) / 2;
        const angle = pos * 10000 ** ((-2 * i) / half);
        const a = xv[tok * hd + j];
        const b = xv[tok * hd + j + 1];
        expect(yv[tok * hd + j]).toBeCloseTo(a * Math.cos(angle) - b * Math.sin(angle), 5);
        expect(yv[tok * hd + j + 1]).toBeCloseTo(a * Math.sin(angle) + b * Math.cos(angle), 5);
      }
    }
    // The persistent copies under the reference's names hold the same tables.
    const sd = m.stateDict();
    expect(maxAbsDiff(sd['feat_rope.freqs_cos'], rope.freqsCos)).toBe(0);
    tf.dispose([x, y, ...Object.values(sd)]);
    m.dispose();
  });

  it('patchify / unpatchify invert each other, and PatchEmbed equals a strided conv', () => {
    const x = tf.randomNormal([2, 6, 4, 3], 0, 1, 'float32', 5);
    for (const p of [1, 2]) {
      const back = unpatchify(patchify(x, p), p, [6 / p, 4 / p], 3);
      expect(maxAbsDiff(back, x)).toBe(0);
      back.dispose();
    }
    const pe = new PatchEmbed(2, 3, 8, createRng(1));
    const tokens = pe.forward(x);
    const conv = tf.add(tf.conv2d(x as tf.Tensor4D, pe.proj.weight as tf.Tensor4D, 2, 'valid'), pe.proj.bias);
    const ref = tf.reshape(conv, [2, 6, 8]);
    expect(maxAbsDiff(tokens, ref)).toBeLessThan(1e-5);
    tf.dispose([x, tokens, conv, ref]);
    pe.dispose();
  });
});

describe('configs and bad input', () => {
  it('presets fill the shape; toJSON / fromConfig round-trip', () => {
    const b1 = lightningDiTConfig({ preset: 'LightningDiT-B/1', inputSize: 32, inChannels: 16 });
    expect(b1).toMatchObject({
      type: 'lightningdit',
      hiddenSize: 768,
      depth: 12,
      numHeads: 12,
      patchSize: 1,
    });
    expect(b1).toMatchObject({
      rope: true,
      rmsNorm: true,
      swiglu: true,
      qkNorm: false,
      woShift: false,
      learnSigma: false,
    });
    expect(b1).toMatchObject({ numClasses: 1000, classDropoutProb: 0.1, mlpRatio: 4 });
    expect(ditConfig({ preset: 'DiT-XL/2', inputSize: 32, inChannels: 4 })).toMatchObject({
      hiddenSize: 1152,
      depth: 28,
      learnSigma: true,
    });
    const m = new LightningDiT({
      preset: 'LightningDiT-Ti/2',
      inputSize: 4,
      inChannels: 2,
      depth: 1,
      qkNorm: true,
    });
    const cfg = m.toJSON();
    expect(cfg).toMatchObject({ hiddenSize: 192, numHeads: 3, patchSize: 2, depth: 1, qkNorm: true });
    expect(JSON.parse(JSON.stringify(cfg))).toEqual(cfg);
    const again = LightningDiT.fromConfig(cfg);
    expect(again.toJSON()).toEqual(cfg);
    m.dispose();
    again.dispose();
  });

  it('rejects bad configs naming the field', () => {
    expect(() => new LightningDiT({ preset: 'LightningDiT-Q/9', inputSize: 8, inChannels: 4 })).toThrow(
      /unknown preset/,
    );
    expect(
      () =>
        new LightningDiT({
          inputSize: 8,
          inChannels: 4,
          patchSize: 1,
          depth: 1,
          numHeads: 3,
          hiddenSize: 64,
        }),
    ).toThrow(/numHeads/);
    expect(() => new DiT({ preset: 'DiT-Nano/2', inputSize: 7, inChannels: 4 })).toThrow(
      /divisible by patchSize/,
    );
    expect(() => new DiT({ preset: 'DiT-Nano/2', inputSize: 8, inChannels: 4, classDropoutProb: 1 })).toThrow(
      /classDropoutProb/,
    );
    expect(() => new DiT({ inputSize: 8, inChannels: 4 })).toThrow(/patchSize is required/);
    expect(() => DiT.fromConfig({ type: 'lightningdit' } as never)).toThrow(/'dit'/);
    expect(() => denoiserFromConfig({ type: 'unet' } as never)).toThrow(/'dit' or 'lightningdit'/);
  });

  it('rejects bad inputs before any work', () => {
    const m = new LightningDiT({ preset: 'LightningDiT-Nano/1', ...nano });
    const x = tf.zeros([2, 8, 8, 4]);
    const bad = tf.zeros([2, 8, 8, 3]);
    const before = tf.memory().numTensors;
    expect(() => m.forward(bad, [0, 0])).toThrow(/\[B, 8, 8, 4\]/);
    expect(() => m.forward(x, [0])).toThrow(/t must hold 2/);
    expect(() => m.forward(x, [0, 0], [0, 4])).toThrow(/labels must be in \[0, 4\)/);
    expect(() => m.forward(x, [0, 0], [0, 1.5])).toThrow(/integers/);
    const floatLabels = tf.tensor1d([0, 1], 'float32');
    expect(() => m.forward(x, [0, 0], floatLabels)).toThrow(/int32/);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, bad, floatLabels]);
    m.dispose();
  });
});
