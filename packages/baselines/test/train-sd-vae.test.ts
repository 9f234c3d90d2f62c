import { setupBackend } from '@ldmae/core';
import { it } from 'vitest';
import { expectMnistRunLearns, tinyLpips } from './helpers.js';

it('a seeded tiny SD-VAE run on MNIST (GAN from step 10) lowers the reconstruction error at least 3x, with flat tensor memory', async () => {
  await setupBackend({ backend: 'wasm' });
  const lpips = tinyLpips();
  await expectMnistRunLearns('sd-vae', { lpips, discStart: 10, discriminator: { ndf: 8, nLayers: 2 } });
  lpips.dispose();
});
