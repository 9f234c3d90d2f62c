/**
 * A sampler run on WebGPU equals the same run on wasm: LightningDiT with classifier-free guidance,
 * the rectified-flow Euler and Heun samplers, 4 steps from the same noise.
 */
import { createRng } from '@ldmae/core';
import { FlowEulerScheduler, FlowHeunScheduler, sampleLoop } from '@ldmae/diffusion';
import { describe, expect, it } from 'vitest';
import { probeWebGPU } from './availability.js';
import { type HostResults, readAll, relativeDiffs, runOn, worst } from './compare.js';
import { microDiT } from './models.js';

const { reason } = await probeWebGPU();

describe.skipIf(reason !== null)('sampling on WebGPU matches wasm', () => {
  it('LightningDiT, CFG 2.0, Euler and Heun, 4 steps', async () => {
    const run = async (): Promise<HostResults> => {
      const denoiser = microDiT();
      const noise = createRng(4).normal([2, 4, 4, 4]);
      const euler = await sampleLoop({
        denoiser,
        scheduler: new FlowEulerScheduler(),
        noise,
        steps: 4,
        labels: [0, 2],
        guidance: { scale: 2 },
      });
      const heun = await sampleLoop({
        denoiser,
        scheduler: new FlowHeunScheduler(),
        noise,
        steps: 4,
        labels: [1, 1],
      });
      noise.dispose();
      denoiser.dispose();
      return readAll({ euler, heun });
    };
    const ref = await runOn('wasm', run);
    const got = await runOn('webgpu', run);
    const [name, d] = worst(relativeDiffs(got, ref));
    console.log(`sampling: largest relative difference ${d.toExponential(2)} (${name})`);
    expect(d).toBeLessThan(1e-4);
  });
});
