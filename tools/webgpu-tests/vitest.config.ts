import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

// Dawn runs in its own forked worker, apart from every other package's tests; one file after another.
export default defineConfig({
  ...sharedTestConfig,
  test: { ...sharedTestConfig.test, pool: 'forks', testTimeout: 180_000, hookTimeout: 180_000 },
});
