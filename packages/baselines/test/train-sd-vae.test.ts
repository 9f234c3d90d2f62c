import { setupBackend } from '@ldmae/core';
import { expect, it } from 'vitest';
import { mnistRun, tinyLpips } from './helpers.js';

it('a seeded tiny SD-VAE run on MNIST (GAN from step 10) lowers the reconstruction error at least 3x, with flat tensor memory', async () => {
  await setupBackend({ backend: 'wasm' });
  const lpips = tinyLpips();
  const run = await mnistRun('sd-vae', 40, { lpips, discStart: 10, discriminator: { ndf: 8, nLayers: 2 } });
  lpips.dispose();
  console.log(
    `sd-vae: MSE ${run.before.toFixed(4)} -> ${run.after.toFixed(4)} (${(run.before / run.after).toFixed(1)}x) in 40 steps, ${run.seconds.toFixed(1)} s`,
  );
  expect(run.before / run.after).toBeGreaterThanOrEqual(3);
  expect(run.losses.every(Number.isFinite)).toBe(true);
  // Across the discriminator's start too: nothing accumulates.
  expect(new Set(run.tensorsPerStep.slice(1)).size).toBe(1);
});
