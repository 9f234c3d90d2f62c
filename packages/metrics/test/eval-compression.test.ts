import { DiagonalGaussian, setupBackend } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { imageCompressionStats, patchLabels, pixelPatches } from '../src/eval/compression-stats.js';
import { perceptualCompression } from '../src/index.js';
import { PoolAutoencoder, values } from './eval-helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

/** The definitions of compression-stats.ts written out directly, with an O(m^2) pair loop. */
function bruteForce(f: Float32Array, m: number, c: number, labels: Int32Array) {
  const rows = Array.from({ length: m }, (_, i) => i).filter((i) => labels[i] >= 0);
  const std = Array.from({ length: c }, (_, ch) => {
    const v = rows.map((i) => f[i * c + ch]);
    const mu = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / v.length);
    return (x: number) => (sd > 0 ? (x - mu) / sd : 0);
  });
  const g = rows.map((i) => Array.from({ length: c }, (_, ch) => std[ch](f[i * c + ch])));
  const lab = rows.map((i) => labels[i]);
  const cos = (a: number[], b: number[]) => {
    const na = Math.hypot(...a);
    const nb = Math.hypot(...b);
    return na && nb ? a.reduce((s, x, k) => s + x * b[k], 0) / (na * nb) : 0;
  };
  let intra = 0;
  let ni = 0;
  let inter = 0;
  let ne = 0;
  for (let p = 0; p < g.length; p++)
    for (let q = 0; q < g.length; q++) {
      if (p === q) continue;
      const w = (1 + cos(g[p], g[q])) / 2;
      if (lab[p] === lab[q]) [intra, ni] = [intra + w, ni + 1];
      else [inter, ne] = [inter + w, ne + 1];
    }
  const variances = [...new Set(lab)]
    .map((k) => g.filter((_, r) => lab[r] === k))
    .filter((members) => members.length >= 2)
    .map((members) => {
      let t = 0;
      for (let ch = 0; ch < c; ch++) {
        const v = members.map((x) => x[ch]);
        const mu = v.reduce((a, b) => a + b, 0) / v.length;
        t += v.reduce((a, b) => a + (b - mu) ** 2, 0) / v.length;
      }
      return t / c;
    });
  return { variances, rho: intra / ni / (inter / ne) };
}

describe('imageCompressionStats', () => {
  it('hand values: sigma^2 of standardised features per cluster', () => {
    // Standardised: (x - 4) / sqrt(14); clusters {0, 2} and {4, 10} have variances 1 / 14 and 9 / 14.
    const s = imageCompressionStats(Float32Array.of(0, 2, 4, 10), 4, 1, Int32Array.of(0, 0, 1, 1));
    expect(s.clusterVariances[0]).toBeCloseTo(1 / 14, 12);
    expect(s.clusterVariances[1]).toBeCloseTo(9 / 14, 12);
    // rho: in one channel a cosine is the product of signs, 0 for the zero vector (the standardised 4).
    // Intra: (-4, -2) twice 1, (0, 6) twice 1/2 -> 3/4; inter: -4 or -2 with 0 -> 1/2, with 6 -> 0 -> 1/4.
    expect(s.rho).toBeCloseTo(3, 12);
    expect(s.intra).toBeCloseTo(0.75, 12);
    expect(s.inter).toBeCloseTo(0.25, 12);
  });

  it('equals the pairwise definition on random features, with ignored positions and a singleton cluster', () => {
    for (const [m, c, seed] of [
      [12, 3, 1],
      [30, 5, 2],
      [9, 1, 3],
    ]) {
      const f = values(m * c, seed, -2, 3);
      const labels = Int32Array.from({ length: m }, (_, i) => (i === 0 ? -1 : i === 1 ? 7 : (i * 5) % 3));
      const s = imageCompressionStats(f, m, c, labels);
      const b = bruteForce(f, m, c, labels);
      expect(s.rho).toBeCloseTo(b.rho, 10);
      expect(s.clusterVariances.length).toBe(b.variances.length);
      [...s.clusterVariances].sort().forEach((v, i) => {
        expect(v).toBeCloseTo([...b.variances].sort()[i], 10);
      });
    }
  });

  it('clusters of identical features: sigma^2 0; no cluster structure: rho near 1; one cluster: no rho', () => {
    const f = Float32Array.of(1, 2, 1, 2, 5, -1, 5, -1, 0, 0, 0, 0);
    const s = imageCompressionStats(f, 6, 2, Int32Array.of(0, 0, 1, 1, 2, 2));
    expect(s.clusterVariances).toEqual([0, 0, 0]);
    expect(s.rho).toBeGreaterThan(1);
    const noise = values(400 * 4, 9);
    const labels = Int32Array.from({ length: 400 }, (_, i) => i % 4);
    expect(imageCompressionStats(noise, 400, 4, labels).rho).toBeCloseTo(1, 1);
    expect(imageCompressionStats(f, 6, 2, new Int32Array(6)).rho).toBeNull();
  });
});

describe('patchLabels and pixelPatches', () => {
  it('takes the majority of each patch (ties to the smaller label, ignored labels left out)', () => {
    const map = [
      [1, 1, 2, 2],
      [1, 3, 3, 2],
      [0, 0, 5, 4],
      [0, 9, 4, 5],
    ].flat();
    expect(Array.from(patchLabels(map, 4, 4, 2, 2))).toEqual([1, 2, 0, 4]);
    expect(Array.from(patchLabels(map, 4, 4, 2, 2, new Set([0, 2])))).toEqual([1, 3, 9, 4]);
    expect(Array.from(patchLabels([0, 0, 0, 0], 2, 2, 1, 1, new Set([0])))).toEqual([-1]);
    expect(() => patchLabels(map, 4, 4, 3, 3)).toThrow(/does not divide/);
  });

  it('cuts pixels into (dy, dx, channel)-ordered patch vectors', () => {
    const img = Float32Array.from({ length: 4 * 4 * 2 }, (_, i) => i);
    const p = pixelPatches(img, 4, 4, 2, 2, 2);
    // Patch (1, 0) = rows 2-3, columns 0-1: pixels 8, 9, 12, 13.
    expect(Array.from(p.subarray(2 * 8, 3 * 8))).toEqual([16, 17, 18, 19, 24, 25, 26, 27]);
  });
});

describe('perceptualCompression', () => {
  const N = 3;
  const S = 8;
  /** Images constant on each 2x2 block, with a value that depends on the block's segment, plus noise. */
  function scene(texture: number): { images: Float32Array; labels: Int32Array } {
    const images = new Float32Array(N * S * S * 3);
    const labels = new Int32Array(N * S * S);
    const blockNoise = values(N * 16 * 3, 4, -0.2, 0.2);
    const pixelNoise = values(N * S * S * 3, 5, -1, 1);
    for (let i = 0; i < N; i++)
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const seg = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1) + (i === 2 && y < 4 ? 10 : 0);
          labels[(i * S + y) * S + x] = seg;
          const block = (i * 4 + (y >> 1)) * 4 + (x >> 1);
          for (let c = 0; c < 3; c++) {
            const k = ((i * S + y) * S + x) * 3 + c;
            images[k] =
              0.2 * ((seg * (c + 1)) % 5) - 0.4 + blockNoise[block * 3 + c] + texture * pixelNoise[k];
          }
        }
    return { images, labels };
  }

  it("on blockwise-constant images the pooled latents and the raw pixel patches score the same; texture raises the pixels' sigma^2", async () => {
    const { images, labels } = scene(0);
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(images, [N, S, S, 3]);
    const maps = tf.tensor3d(labels, [N, S, S], 'int32');
    const r = await perceptualCompression(new PoolAutoencoder(), x, maps, { batchSize: 2 });
    expect(r.grid).toEqual([4, 4]);
    expect(r.patch).toEqual([2, 2]);
    expect(r.count).toBe(N);
    expect(r.latent.clusters).toBe(12);
    expect(r.latent.images).toBe(N);
    expect(r.latent.sigma2).toBeCloseTo(r.pixels.sigma2, 5);
    expect(r.latent.rho).toBeCloseTo(r.pixels.rho, 5);
    expect(r.latent.rho).toBeGreaterThan(1);
    tf.dispose([x, maps]);
    expect(tf.memory().numTensors).toBe(before);

    const t = scene(0.3);
    const batches = [
      tf.tensor4d(t.images.subarray(0, 2 * 192), [2, S, S, 3]),
      tf.tensor4d(t.images.subarray(2 * 192), [1, S, S, 3]),
    ];
    const r2 = await perceptualCompression(new PoolAutoencoder(), batches, [
      t.labels.subarray(0, 128),
      t.labels.subarray(128),
    ]);
    expect(r2.pixels.sigma2).toBeGreaterThan(r2.latent.sigma2);
    // The same maps as one tensor give the same numbers whatever the batching.
    const r3 = await perceptualCompression(
      new PoolAutoencoder(),
      batches,
      tf.tensor4d(t.labels, [N, S, S, 1], 'int32'),
    );
    expect(r3.latent.sigma2).toBeCloseTo(r2.latent.sigma2, 12);
    expect(r3.pixels.rho).toBeCloseTo(r2.pixels.rho, 12);
    // Ignoring a label changes what enters.
    const r4 = await perceptualCompression(
      new PoolAutoencoder(),
      batches,
      tf.tensor3d(t.labels, [N, S, S], 'int32'),
      {
        ignoreLabels: [0],
      },
    );
    expect(r4.latent.clusters).toBe(r2.latent.clusters - 2);
  });

  it('rejects mismatched inputs', async () => {
    const { images, labels } = scene(0);
    const x = tf.tensor4d(images, [N, S, S, 3]);
    const ae = new PoolAutoencoder();
    await expect(perceptualCompression(ae, x, tf.zeros([2, S, S]))).rejects.toThrow(/2 maps for 3 images/);
    await expect(perceptualCompression(ae, x, tf.zeros([N, S, S, 2]))).rejects.toThrow(/\[n, H, W\]/);
    await expect(perceptualCompression(ae, x, [labels.subarray(0, 10)], { batchSize: 3 })).rejects.toThrow(
      /holds 10 labels/,
    );
    await expect(perceptualCompression(ae, x, [], { batchSize: 3 })).rejects.toThrow(/ran out/);
    await expect(
      perceptualCompression(ae, x, [Float32Array.of(0.5)] as never, { batchSize: 3 }),
    ).rejects.toThrow(/integer typed array/);
    await expect(perceptualCompression(ae, x, 5 as never)).rejects.toThrow(/SegmentationSource/);
    const odd = new PoolAutoencoder();
    odd.encode = (t: tf.Tensor4D) => DiagonalGaussian.deterministic(tf.avgPool(t, 3, 3, 'same'));
    await expect(perceptualCompression(odd, x, tf.tensor3d(labels, [N, S, S], 'int32'))).rejects.toThrow(
      /do not divide into the 3x3/,
    );
    x.dispose();
  });
});
