/**
 * The perceptual parts on WebGPU equal wasm: LPIPS (AlexNet trunk, random weights; its distance and
 * its gradient with respect to the image) and the FID Inception's features (pool3, the sFID spatial
 * feature, logits) at the smallest input it takes (75 px), random weights.
 */
import { createRng } from '@ldmae/core';
import { alexnetTrunk, Lpips } from '@ldmae/losses';
import { FidInceptionExtractor, FidInceptionV3 } from '@ldmae/metrics';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { probeWebGPU } from './availability.js';
import { type HostResults, readAll, relativeDiffs, runOn, worst } from './compare.js';

const { reason } = await probeWebGPU();

function expectClose(got: HostResults, ref: HostResults, what: string): void {
  const [name, d] = worst(relativeDiffs(got, ref));
  console.log(`${what}: largest relative difference ${d.toExponential(2)} (${name})`);
  expect(d, `${what}: ${name}`).toBeLessThan(1e-4);
}

describe.skipIf(reason !== null)('LPIPS and FID features on WebGPU match wasm', () => {
  it('LPIPS distance and its gradient (AlexNet trunk, 64 px)', async () => {
    const run = async (): Promise<HostResults> => {
      const lpips = new Lpips(alexnetTrunk({ rng: createRng(1) }), { lin: 'uniform' });
      const rng = createRng(2);
      const x = rng.uniform([2, 64, 64, 3], -1, 1) as tf.Tensor4D;
      const y = rng.uniform([2, 64, 64, 3], -1, 1) as tf.Tensor4D;
      const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => tf.sum(lpips.forward(a as tf.Tensor4D, y)))(
        x,
      );
      const distance = lpips.forward(x, y);
      const out = await readAll({ distance, sum: value, grad });
      tf.dispose([x, y]);
      lpips.dispose();
      return out;
    };
    const ref = await runOn('wasm', run);
    const got = await runOn('webgpu', run);
    expectClose(got, ref, 'LPIPS');
  });

  it('FID Inception features: pool3, spatial, logits (75 px)', async () => {
    const run = async (): Promise<HostResults> => {
      const net = new FidInceptionV3({ init: 'random', rng: createRng(3) });
      const extractor = new FidInceptionExtractor(net, { weights: 'random-test', size: 75 });
      const images = createRng(4).uniform([2, 75, 75, 3], -1, 1) as tf.Tensor4D;
      const f = await extractor.extract(images);
      images.dispose();
      extractor.dispose();
      return { pool: f.pool, spatial: f.spatial as Float32Array, logits: f.logits as Float32Array };
    };
    const ref = await runOn('wasm', run);
    const got = await runOn('webgpu', run);
    expectClose(got, ref, 'FID features');
  });
});
