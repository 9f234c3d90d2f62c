import { setupBackend } from '@ldmae/core';
import { it } from 'vitest';
import { expectMnistRunLearns } from './helpers.js';

it('a seeded tiny AE run on MNIST lowers the reconstruction error at least 3x, with flat tensor memory', async () => {
  await setupBackend({ backend: 'wasm' });
  await expectMnistRunLearns('ae');
});
