import { createRng, type Rng, setupBackend } from '@ldmae/core';
import { hingeDLoss, klLoss, type Lpips } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AutoencoderKL,
  createBaseline,
  createObjective,
  DAE_DEFAULT_NOISE_STD,
  type SdVaeObjective,
  VAE_DEFAULT_KL_WEIGHT,
} from '../src/index.js';
import { relErr, tinyLpips } from './helpers.js';

let x: tf.Tensor4D;
let lpips: Lpips;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  x = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
  lpips = tinyLpips();
});

afterAll(() => {
  x.dispose();
  lpips.dispose();
});

const scalar = (f: () => tf.Tensor) => tf.tidy(() => f().dataSync()[0]);
const mse = (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.square(tf.sub(a, b)));

describe('AE, DAE, VAE losses against their closed forms', () => {
  it('AE: mean squared error of decode(encode(x).mean)', () => {
    const ae = createBaseline('ae', { preset: 'f4d4-micro', seed: 1 });
    const obj = createObjective('ae', ae);
    expect(scalar(() => obj.loss(x, 0).loss)).toBeCloseTo(
      scalar(() => mse(ae.reconstruct(x), x)),
      6,
    );
    ae.dispose();
  });

  it('DAE: the same error after encoding x + noiseStd * eps (default 0.1), 0 noise = AE', () => {
    const ae = createBaseline('dae', { preset: 'f4d4-micro', seed: 1 });
    expect(DAE_DEFAULT_NOISE_STD).toBe(0.1);
    const obj = createObjective('dae', ae, { seed: 3 });
    const eps = createRng(3).normal(x.shape);
    const want = scalar(() =>
      mse(ae.decode(ae.encode(tf.add(x, tf.mul(eps, 0.1)) as tf.Tensor4D).mean as tf.Tensor4D), x),
    );
    expect(scalar(() => obj.loss(x, 0).loss)).toBeCloseTo(want, 6);
    expect(want).not.toBeCloseTo(
      scalar(() => mse(ae.reconstruct(x), x)),
      6,
    );
    const clean = createObjective('dae', ae, { noiseStd: 0 });
    expect(scalar(() => clean.loss(x, 0).loss)).toBeCloseTo(
      scalar(() => mse(ae.reconstruct(x), x)),
      6,
    );
    expect(() => createObjective('dae', ae, { noiseStd: -1 })).toThrow(
      /noiseStd must be a finite number >= 0/,
    );
    eps.dispose();
    ae.dispose();
  });

  it('VAE: error of decode(z), z ~ q(z|x), plus klWeight * KL(q || N(0, I)) / (H W C)', () => {
    const ae = createBaseline('vae', { preset: 'f4d4-micro', seed: 1 });
    expect(VAE_DEFAULT_KL_WEIGHT).toBe(1);
    const obj = createObjective('vae', ae, { seed: 4, klWeight: 3 });
    const got = tf.tidy(() => {
      const out = obj.loss(x, 0);
      return [out.loss.dataSync()[0], (out.logs.kl as tf.Scalar).dataSync()[0]];
    });
    const [want, kl] = tf.tidy(() => {
      const post = ae.encode(x);
      const z = post.sample(createRng(4));
      const m = post.mean;
      const lv = post.logvar;
      // 0.5 * sum(mu^2 + var - 1 - logvar) per sample, averaged over the batch.
      const klv = tf.mean(
        tf.mul(tf.sum(tf.sub(tf.add(tf.square(m), tf.exp(lv)), tf.add(lv, 1)), [1, 2, 3]), 0.5),
      );
      return [
        tf.add(mse(ae.decode(z as tf.Tensor4D), x), tf.mul(klv, 3 / (28 * 28 * 3))).dataSync()[0],
        klv.dataSync()[0],
      ];
    });
    expect(got[0]).toBeCloseTo(want, 5);
    expect(got[1]).toBeCloseTo(kl, 3);
    expect(kl).toBeGreaterThan(0);
    ae.dispose();
  });
});

/** taming's nll: sum(|x - x'| + w * LPIPS broadcast over the pixels) / exp(logvar) + logvar, summed, / B. */
function tamingNll(xr: tf.Tensor, logvar: tf.Tensor, pw: number): tf.Scalar {
  const [b, h, w, c] = x.shape;
  const p = tf.reshape(lpips.forward(x, xr as tf.Tensor4D), [b, 1, 1, 1]);
  const rec = tf.add(tf.abs(tf.sub(x, xr)), tf.mul(tf.broadcastTo(p, [b, h, w, c]), pw));
  return tf.div(tf.sum(tf.add(tf.div(rec, tf.exp(logvar)), logvar)), b) as tf.Scalar;
}

describe('SD-VAE objective (taming LPIPSWithDiscriminator)', () => {
  let ae: AutoencoderKL;
  let obj: SdVaeObjective;
  const KL_W = 0.05;
  const PW = 0.7;
  const DISC_W = 0.5;

  beforeAll(() => {
    ae = createBaseline('sd-vae', { preset: 'f4d4-micro', seed: 2 });
    obj = createObjective('sd-vae', ae, {
      lpips,
      seed: 6,
      klWeight: KL_W,
      perceptualWeight: PW,
      discStart: 3,
      discriminator: { ndf: 8, nLayers: 2 },
      logvarInit: 0.3,
    }) as SdVaeObjective;
  });

  afterAll(() => {
    obj.dispose();
    ae.dispose();
  });

  /** Run `f` with the objective's rng at `state`, so posterior samples repeat. */
  const withState = <T>(rng: Rng, state: ReturnType<Rng['getState']>, f: () => T): T => {
    rng.setState(state);
    return f();
  };

  it('gives the autoencoder, logvar and discriminator exactly the gradients of their own losses', () => {
    const disc = obj.module.discriminator;
    const logvar = obj.module.logvar;
    const aeVars = [...ae.parameters(), logvar];
    const discVars = disc.parameters();
    const state = obj.rng.getState();
    let logs: Record<string, number> = {};
    const combined = tf.variableGrads(() => {
      const out = obj.loss(x, 5);
      logs = Object.fromEntries(
        Object.entries(out.logs).map(([k, v]) => [k, typeof v === 'number' ? v : v.dataSync()[0]]),
      );
      return out.loss;
    }, [...aeVars, ...discVars]);
    expect(logs.disc_factor).toBe(1);
    expect(logs.d_weight).toBeGreaterThan(0);
    expect(logs.d_loss).toBeGreaterThan(0);
    // The logged value is the sum of its parts.
    expect(combined.value.dataSync()[0]).toBeCloseTo(
      logs.nll + KL_W * logs.kl + logs.d_weight * logs.g_loss + logs.d_loss,
      0,
    );

    let xrFixed: tf.Tensor | null = null;
    const direct = withState(obj.rng, state, () =>
      tf.variableGrads(() => {
        const post = ae.encode(x);
        const xr = ae.decode(post.sample(obj.rng) as tf.Tensor4D);
        xrFixed = tf.keep(tf.clone(xr));
        const kl = tf.div(tf.sum(klLoss(post, { form: 'standard', reduction: 'none' })), x.shape[0]);
        const g = tf.neg(tf.mean(disc.forward(xr)));
        return tf.addN([tamingNll(xr, logvar, PW), tf.mul(kl, KL_W), tf.mul(g, logs.d_weight)]) as tf.Scalar;
      }, aeVars),
    );
    for (const v of aeVars) expect(relErr(combined.grads[v.name], direct.grads[v.name])).toBeLessThan(2e-3);
    const fixed = tf.tensor(xrFixed!.dataSync(), xrFixed!.shape);
    const dDirect = tf.variableGrads(
      () => hingeDLoss(disc.forward(x), disc.forward(fixed as tf.Tensor4D)),
      discVars,
    );
    for (const v of discVars)
      expect(relErr(combined.grads[v.name], dDirect.grads[v.name])).toBeLessThan(1e-3);
    tf.dispose([combined.value, direct.value, dDirect.value, xrFixed!, fixed]);
    tf.dispose([
      ...Object.values(combined.grads),
      ...Object.values(direct.grads),
      ...Object.values(dDirect.grads),
    ]);
  });

  it('computes the adaptive weight from the gradients at the decoder conv_out weight', () => {
    const disc = obj.module.discriminator;
    const state = obj.rng.getState();
    const dw = tf.tidy(() => obj.loss(x, 4).logs.d_weight as number);
    const lastGrad = (which: 'nll' | 'g') =>
      withState(obj.rng, state, () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const post = ae.encode(x);
            const xr = ae.decode(post.sample(obj.rng) as tf.Tensor4D);
            return which === 'nll'
              ? tamingNll(xr, obj.module.logvar, PW)
              : (tf.neg(tf.mean(disc.forward(xr))) as tf.Scalar);
          }, [ae.decoder.convOut.weight]);
          return tf.norm(grads[ae.decoder.convOut.weight.name]).dataSync()[0];
        }),
      );
    const want = DISC_W * Math.min(1e4, lastGrad('nll') / (lastGrad('g') + 1e-4));
    expect(dw).toBeGreaterThan(0);
    expect(Math.abs(dw - want) / want).toBeLessThan(1e-3);
  });

  it('leaves the discriminator out before discStart (factor 0, no d_loss, no disc gradients)', () => {
    expect(obj.factorAt(2)).toBe(0);
    expect(obj.factorAt(3)).toBe(1);
    const discNames = new Set(obj.module.discriminator.parameters().map((v) => v.name));
    const before = tf.memory().numTensors;
    const r = tf.variableGrads(() => {
      const out = obj.loss(x, 2);
      expect(out.logs.disc_factor).toBe(0);
      expect(out.logs.d_weight).toBe(0);
      return out.loss;
    }, [...ae.parameters(), obj.module.logvar, ...obj.module.discriminator.parameters()]);
    expect(Object.keys(r.grads).some((n) => discNames.has(n))).toBe(false);
    expect(Object.keys(r.grads)).toContain(obj.module.logvar.name);
    tf.dispose([r.value, ...Object.values(r.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs an LPIPS unless the perceptual weight is 0, and checks its numbers', () => {
    expect(() => createObjective('sd-vae', ae)).toThrow(
      /opts\.lpips .* is required when perceptualWeight > 0/,
    );
    const noP = createObjective('sd-vae', ae, { perceptualWeight: 0, discriminator: { ndf: 4, nLayers: 1 } });
    expect(noP.module?.stateDictShapes().logvar).toEqual([]);
    expect(Object.keys(noP.module?.stateDictShapes() ?? {})).toContain('discriminator.main.0.weight');
    noP.dispose();
    expect(() => createObjective('sd-vae', ae, { lpips, discWeight: -1 })).toThrow(/discWeight/);
    expect(() => createObjective('sd-vae', ae, { lpips, pixelLoss: 'l2' as never })).toThrow(/pixelLoss/);
    expect(() => obj.loss(tf.zeros([1, 28, 28, 1]) as tf.Tensor4D, 0)).toThrow(
      /x must be images \[B, H, W, 3\]/,
    );
  });
});
