import { setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fidSpatialSize } from '../src/features/fid-extractor.js';
import {
  BasicConv2d,
  FID_BN_EPS,
  InceptionA,
  InceptionC,
  InceptionE,
} from '../src/features/fid-inception-blocks.js';
import { FidInceptionExtractor, FidInceptionV3, fidExtractorName } from '../src/index.js';
import { values } from './eval-helpers.js';

/**
 * pytorch-fid's FIDInceptionV3 (torchvision Inception3, num_classes=1008, aux_logits=False), transcribed
 * independently of the implementation from the layer definitions: every BasicConv2d as
 * [name, in, out, kh, kw].
 */
function referenceConvs(): [string, number, number, number, number][] {
  const out: [string, number, number, number, number][] = [];
  const c = (n: string, i: number, o: number, kh: number, kw = kh) => out.push([n, i, o, kh, kw]);
  c('Conv2d_1a_3x3', 3, 32, 3);
  c('Conv2d_2a_3x3', 32, 32, 3);
  c('Conv2d_2b_3x3', 32, 64, 3);
  c('Conv2d_3b_1x1', 64, 80, 1);
  c('Conv2d_4a_3x3', 80, 192, 3);
  const A = (n: string, i: number, pf: number) => {
    c(`${n}.branch1x1`, i, 64, 1);
    c(`${n}.branch5x5_1`, i, 48, 1);
    c(`${n}.branch5x5_2`, 48, 64, 5);
    c(`${n}.branch3x3dbl_1`, i, 64, 1);
    c(`${n}.branch3x3dbl_2`, 64, 96, 3);
    c(`${n}.branch3x3dbl_3`, 96, 96, 3);
    c(`${n}.branch_pool`, i, pf, 1);
  };
  A('Mixed_5b', 192, 32);
  A('Mixed_5c', 256, 64);
  A('Mixed_5d', 288, 64);
  c('Mixed_6a.branch3x3', 288, 384, 3);
  c('Mixed_6a.branch3x3dbl_1', 288, 64, 1);
  c('Mixed_6a.branch3x3dbl_2', 64, 96, 3);
  c('Mixed_6a.branch3x3dbl_3', 96, 96, 3);
  const C = (n: string, c7: number) => {
    c(`${n}.branch1x1`, 768, 192, 1);
    c(`${n}.branch7x7_1`, 768, c7, 1);
    c(`${n}.branch7x7_2`, c7, c7, 1, 7);
    c(`${n}.branch7x7_3`, c7, 192, 7, 1);
    c(`${n}.branch7x7dbl_1`, 768, c7, 1);
    c(`${n}.branch7x7dbl_2`, c7, c7, 7, 1);
    c(`${n}.branch7x7dbl_3`, c7, c7, 1, 7);
    c(`${n}.branch7x7dbl_4`, c7, c7, 7, 1);
    c(`${n}.branch7x7dbl_5`, c7, 192, 1, 7);
    c(`${n}.branch_pool`, 768, 192, 1);
  };
  C('Mixed_6b', 128);
  C('Mixed_6c', 160);
  C('Mixed_6d', 160);
  C('Mixed_6e', 192);
  c('Mixed_7a.branch3x3_1', 768, 192, 1);
  c('Mixed_7a.branch3x3_2', 192, 320, 3);
  c('Mixed_7a.branch7x7x3_1', 768, 192, 1);
  c('Mixed_7a.branch7x7x3_2', 192, 192, 1, 7);
  c('Mixed_7a.branch7x7x3_3', 192, 192, 7, 1);
  c('Mixed_7a.branch7x7x3_4', 192, 192, 3);
  const E = (n: string, i: number) => {
    c(`${n}.branch1x1`, i, 320, 1);
    c(`${n}.branch3x3_1`, i, 384, 1);
    c(`${n}.branch3x3_2a`, 384, 384, 1, 3);
    c(`${n}.branch3x3_2b`, 384, 384, 3, 1);
    c(`${n}.branch3x3dbl_1`, i, 448, 1);
    c(`${n}.branch3x3dbl_2`, 448, 384, 3);
    c(`${n}.branch3x3dbl_3a`, 384, 384, 1, 3);
    c(`${n}.branch3x3dbl_3b`, 384, 384, 3, 1);
    c(`${n}.branch_pool`, i, 192, 1);
  };
  E('Mixed_7b', 1280);
  E('Mixed_7c', 2048);
  return out;
}

/** A state dict with pytorch-fid's names and shapes, random values, and torch's BN batch counters. */
function referenceStateDict(): Record<string, tf.Tensor> {
  const d: Record<string, tf.Tensor> = {};
  referenceConvs().forEach(([n, i, o, kh, kw], k) => {
    const a = Math.sqrt(6 / (i * kh * kw));
    d[`${n}.conv.weight`] = tf.tensor4d(values(o * i * kh * kw, 7 * k + 1, -a, a), [o, i, kh, kw]);
    d[`${n}.bn.weight`] = tf.tensor1d(values(o, 7 * k + 2, 0.8, 1.2));
    d[`${n}.bn.bias`] = tf.tensor1d(values(o, 7 * k + 3, -0.1, 0.1));
    d[`${n}.bn.running_mean`] = tf.tensor1d(values(o, 7 * k + 4, -0.1, 0.1));
    d[`${n}.bn.running_var`] = tf.tensor1d(values(o, 7 * k + 5, 0.5, 1.5));
    d[`${n}.bn.num_batches_tracked`] = tf.scalar(0, 'int32');
  });
  d['fc.weight'] = tf.tensor2d(values(1008 * 2048, 99, -0.05, 0.05), [1008, 2048]);
  d['fc.bias'] = tf.tensor1d(values(1008, 98, -1, 1));
  return d;
}

let net: FidInceptionV3;
let dict: Record<string, tf.Tensor>;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  net = new FidInceptionV3();
  dict = referenceStateDict();
});

afterAll(() => {
  net?.dispose();
  tf.dispose(Object.values(dict ?? {}));
});

describe('FidInceptionV3 architecture', () => {
  it("has exactly the reference's parameter count, 23,850,960", () => {
    // Conv weights + BN weight/bias of every BasicConv2d, plus fc (2048 x 1008 + 1008); running stats are buffers.
    const fromDefinitions =
      referenceConvs().reduce((a, [, i, o, kh, kw]) => a + i * o * kh * kw + 2 * o, 0) + 2048 * 1008 + 1008;
    expect(fromDefinitions).toBe(23_850_960);
    expect(net.numParameters()).toBe(23_850_960);
    expect(net.numParameters(true) - net.numParameters()).toBe(
      referenceConvs().reduce((a, [, , o]) => a + 2 * o, 0),
    );
  });

  it('loads a state dict with the reference names and shapes strictly (BN batch counters ignored)', () => {
    expect(net.weightsLoaded).toBe(false);
    const r = net.loadStateDict(dict);
    expect(r).toEqual({ missing: [], unexpected: [] });
    expect(net.weightsLoaded).toBe(true);
    const shapes = net.stateDictShapes();
    const names = Object.keys(dict).filter((k) => !k.endsWith('num_batches_tracked'));
    expect(Object.keys(shapes).sort()).toEqual(names.sort());
    for (const k of names) expect(shapes[k]).toEqual(dict[k].shape);
    const sd = net.stateDict();
    try {
      for (const k of [
        'Mixed_6d.branch7x7_2.conv.weight',
        'Mixed_7c.branch3x3_2b.conv.weight',
        'fc.weight',
        'Conv2d_1a_3x3.bn.running_var',
      ]) {
        const a = sd[k].dataSync();
        const b = dict[k].dataSync();
        expect(a.length).toBe(b.length);
        expect(a.every((v, i) => v === b[i])).toBe(true);
      }
    } finally {
      tf.dispose(Object.values(sd));
    }
  });

  it('refuses a wrong dict without changing any weight', () => {
    const probe = () => net.stateDict();
    const before = probe();
    const w0 = before['Conv2d_1a_3x3.conv.weight'].dataSync().slice();
    tf.dispose(Object.values(before));
    const { 'fc.bias': _fcBias, ...missing } = dict;
    expect(() => net.loadStateDict(missing)).toThrow(/Missing: fc.bias/);
    const bad = {
      ...dict,
      'Conv2d_1a_3x3.conv.weight': tf.zeros([32, 3, 3, 3]),
      'Mixed_5b.branch1x1.conv.weight': tf.zeros([64, 192, 3, 3]),
    };
    expect(() => net.loadStateDict(bad)).toThrow(
      /Mixed_5b.branch1x1.conv.weight.*\[64,192,3,3\].*\[64,192,1,1\]/,
    );
    expect(() => net.loadStateDict({ ...dict, 'AuxLogits.fc.weight': tf.zeros([1]) })).toThrow(
      /Unexpected: AuxLogits.fc.weight/,
    );
    tf.dispose([bad['Conv2d_1a_3x3.conv.weight'], bad['Mixed_5b.branch1x1.conv.weight']]);
    const after = probe();
    expect(Array.from(after['Conv2d_1a_3x3.conv.weight'].dataSync())).toEqual(Array.from(w0));
    tf.dispose(Object.values(after));
  });

  it('runs a 299 x 299 image: pool3 2048, Mixed_6d tap 17 x 17 x 192, logits = pool3 W^T (+ bias on request)', () => {
    const x = tf.randomUniform([1, 299, 299, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const o = net.forward(x, { spatial: true, logits: true });
    expect(o.pool.shape).toEqual([1, 2048]);
    expect(o.spatial?.shape).toEqual([1, 17, 17, 192]);
    expect(o.logits?.shape).toEqual([1, 1008]);
    const pool = o.pool.dataSync();
    const sp = o.spatial?.dataSync() as Float32Array;
    expect(pool.every(Number.isFinite)).toBe(true);
    expect(pool.some((v) => v > 0)).toBe(true);
    // Post-ReLU values: the tap and the pool are non-negative.
    expect(sp.every((v) => v >= 0) && pool.every((v) => v >= 0)).toBe(true);
    const w = dict['fc.weight'].dataSync();
    const logits = o.logits?.dataSync() as Float32Array;
    for (const j of [0, 500, 1007]) {
      let s = 0;
      for (let i = 0; i < 2048; i++) s += pool[i] * w[j * 2048 + i];
      expect(logits[j]).toBeCloseTo(s, 3);
    }
    const withBias = net.forward(x, { logits: true, logitsBias: true });
    const b = dict['fc.bias'].dataSync();
    expect((withBias.logits as tf.Tensor).dataSync()[7]).toBeCloseTo(logits[7] + b[7], 3);
    tf.dispose([
      o.pool,
      o.spatial as tf.Tensor,
      o.logits as tf.Tensor,
      withBias.pool,
      withBias.logits as tf.Tensor,
    ]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    expect(() => net.forward(tf.zeros([1, 60, 60, 3]) as tf.Tensor4D)).toThrow(/at least 75/);
  });
});

describe('FID-specific blocks', () => {
  /** Every weight zero except a pass-through from input channel 0 into the first channel of branch_pool. */
  function passThrough(m: InceptionA | InceptionC | InceptionE, cin: number): void {
    const d: Record<string, tf.Tensor> = {};
    for (const [k, s] of Object.entries(m.stateDictShapes())) {
      if (k.endsWith('running_var')) d[k] = tf.fill(s, 1 - FID_BN_EPS);
      else if (k.endsWith('bn.weight')) d[k] = tf.ones(s);
      else d[k] = tf.zeros(s);
    }
    const old = d['branch_pool.conv.weight'];
    const w = new Float32Array(old.size);
    w[0] = 1; // out 0 <- in 0
    d['branch_pool.conv.weight'] = tf.tensor4d(w, [old.shape[0], cin, 1, 1]);
    old.dispose();
    m.loadStateDict(d);
    tf.dispose(Object.values(d));
  }

  const x = () => tf.tensor4d(Array.from({ length: 9 }, (_, i) => [i + 1, 5]).flat(), [1, 3, 3, 2]);
  const channel = (y: tf.Tensor4D, c: number) => {
    const d = y.dataSync();
    const C = y.shape[3];
    return Array.from({ length: 9 }, (_, i) => d[i * C + c]);
  };
  // 3x3 'same' average over real inputs only (count_include_pad=False) of 1..9, and the 'same' max.
  const AVG = [3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7];
  const MAX = [5, 6, 6, 8, 9, 9, 8, 9, 9];

  it('FIDInceptionA / C / E_1 average-pool without the padding, E_2 max-pools', () => {
    const cases: [InceptionA | InceptionC | InceptionE, number, number[]][] = [
      [new InceptionA(2, 3), 224, AVG],
      [new InceptionC(2, 2), 576, AVG],
      [new InceptionE(2, 'avg-exclude-pad'), 1856, AVG],
      [new InceptionE(2, 'max'), 1856, MAX],
    ];
    for (const [m, c, want] of cases) {
      passThrough(m, 2);
      const xin = x();
      const y = m.forward(xin);
      channel(y, c).forEach((v, i) => {
        expect(v).toBeCloseTo(want[i], 4);
      });
      // Every other output channel is relu(0) = 0.
      expect((y.dataSync() as Float32Array).reduce((a, v) => a + v, 0)).toBeCloseTo(
        want.reduce((a, v) => a + v, 0),
        3,
      );
      tf.dispose([y, xin]);
      m.dispose();
    }
  });

  it('the network uses E_1 (average) for Mixed_7b and E_2 (max) for Mixed_7c', () => {
    const kids = new Map(net.children());
    expect((kids.get('Mixed_7b') as InceptionE).pool).toBe('avg-exclude-pad');
    expect((kids.get('Mixed_7c') as InceptionE).pool).toBe('max');
  });

  it('BasicConv2d folds BatchNorm (eps 0.001) exactly: relu((conv(x) - mean) / sqrt(var + eps) * w + b)', () => {
    const m = new BasicConv2d(3, 4, { k: [1, 3], pad: [0, 1], stride: 1 });
    const d = {
      'conv.weight': tf.tensor4d(values(36, 3, -1, 1), [4, 3, 1, 3]),
      'bn.weight': tf.tensor1d([1.5, 0.5, 1, 2]),
      'bn.bias': tf.tensor1d([0.1, -0.2, 0.3, 0]),
      'bn.running_mean': tf.tensor1d([0.2, -0.1, 0, 0.5]),
      'bn.running_var': tf.tensor1d([0.5, 2, 1, 0.1]),
    };
    m.loadStateDict(d);
    const xin = tf.tensor4d(values(2 * 4 * 5 * 3, 11, -1, 1), [2, 4, 5, 3]);
    const got = m.forward(xin);
    const want = tf.tidy(() => {
      const k = tf.transpose(d['conv.weight'], [2, 3, 1, 0]) as tf.Tensor4D;
      const y = tf.conv2d(xin, k, 1, [
        [0, 0],
        [0, 0],
        [1, 1],
        [0, 0],
      ]);
      const bn = tf.add(
        tf.mul(
          tf.div(tf.sub(y, d['bn.running_mean']), tf.sqrt(tf.add(d['bn.running_var'], 0.001))),
          d['bn.weight'],
        ),
        d['bn.bias'],
      );
      return tf.relu(bn);
    });
    expect(got.shape).toEqual([2, 4, 5, 4]);
    const a = got.dataSync();
    const b = want.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
    tf.dispose([got, want, xin, ...Object.values(d)]);
    m.dispose();
  });
});

describe('FidInceptionExtractor', () => {
  it('names network, weights and pipeline, and refuses unnamed weights on an unloaded network', () => {
    const fresh = new FidInceptionV3();
    expect(() => new FidInceptionExtractor(fresh)).toThrow(/no loaded weights/);
    const e = new FidInceptionExtractor(fresh, { weights: 'zeros', pipeline: 'pytorch-fid' });
    expect(e.name).toBe('inception-v3-fid[zeros]:pytorch-fid');
    expect(e.dims).toEqual({ pool: 2048, spatial: 2023, logits: 1008 });
    expect(e.preprocessing).toMatch(/pytorch-fid.*half-pixel.*Mixed_6d.branch1x1/);
    e.dispose();
    expect(fidExtractorName('adm')).toBe('inception-v3-fid[pt_inception-2015-12-05]:adm');
    expect(fidSpatialSize(299)).toBe(17);
    expect(fidSpatialSize(75)).toBe(3);
    expect(() => new FidInceptionExtractor(net, { pipeline: 'tf2' as 'adm' })).toThrow(/pipeline/);
    expect(() => new FidInceptionExtractor(net, { size: 64 })).toThrow(/>= 75/);
  });

  it('extracts pool, the 7-channel (h, w, c) spatial feature and logits, the same at any micro-batch, leaking nothing', async () => {
    // Default name: the network loaded a state dict strictly above.
    const e = new FidInceptionExtractor(net, { size: 107, maxBatch: 1 });
    expect(e.name).toBe('inception-v3-fid[pt_inception-2015-12-05]:adm@107');
    const s = fidSpatialSize(107);
    expect(e.dims.spatial).toBe(s * s * 7);
    const images = tf.randomUniform([2, 40, 40, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const f = await e.extract(images);
    expect(tf.memory().numTensors).toBe(before);
    expect(f.pool.length).toBe(2 * 2048);
    expect(f.spatial?.length).toBe(2 * s * s * 7);
    expect(f.logits?.length).toBe(2 * 1008);
    // Against the network run by hand on the ADM pipeline's input.
    const o = tf.tidy(() => {
      const xin = tf.div(
        tf.sub(
          tf.image.resizeBilinear(
            tf.floor(tf.clipByValue(tf.add(tf.mul(images, 127.5), 128), 0, 255)) as tf.Tensor4D,
            [107, 107],
          ),
          128,
        ),
        128,
      );
      const r = net.forward(xin as tf.Tensor4D, { spatial: true });
      return [r.pool, r.spatial as tf.Tensor4D];
    });
    const pool = o[0].dataSync();
    const tap = o[1].dataSync();
    for (let i = 0; i < pool.length; i += 97) expect(f.pool[i]).toBeCloseTo(pool[i], 4);
    // Image 1, position (h, w) = (s - 1, 0), channel 6.
    const hw = (s - 1) * s;
    expect(f.spatial?.[s * s * 7 + hw * 7 + 6]).toBeCloseTo(tap[(s * s + hw) * 192 + 6], 4);
    tf.dispose(o);
    const e2 = new FidInceptionExtractor(net, { size: 107, maxBatch: 16 });
    const g = await e2.extract(images);
    expect(g.pool.every((v, i) => v === f.pool[i])).toBe(true);
    await expect(e.extract(tf.zeros([1, 8, 8]) as unknown as tf.Tensor4D)).rejects.toThrow(/\[n, H, W, 3\]/);
    images.dispose();
  });
});
