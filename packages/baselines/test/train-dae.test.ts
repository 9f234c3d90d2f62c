import { setupBackend } from '@ldmae/core';
import { expect, it } from 'vitest';
import { mnistRun } from './helpers.js';

it('a seeded tiny DAE run on MNIST lowers the reconstruction error at least 3x, with flat tensor memory', async () => {
  await setupBackend({ backend: 'wasm' });
  const run = await mnistRun('dae', 40);
  console.log(
    `dae: MSE ${run.before.toFixed(4)} -> ${run.after.toFixed(4)} (${(run.before / run.after).toFixed(1)}x) in 40 steps, ${run.seconds.toFixed(1)} s`,
  );
  expect(run.before / run.after).toBeGreaterThanOrEqual(3);
  expect(run.losses.every(Number.isFinite)).toBe(true);
  expect(new Set(run.tensorsPerStep.slice(1)).size).toBe(1);
});
