import type { ViteUserConfig as UserConfig } from 'vitest/config';

/** Tests resolve workspace packages to their TypeScript sources (no build needed). */
export const sharedTestConfig: UserConfig = {
  resolve: { conditions: ['@ldmae/source', 'module', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@ldmae/source', 'module', 'node', 'import', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One worker per package runs every file in turn and loads tfjs (and its ~300 gradient modules)
    // once, not once per file; each test file sets the backend it needs.
    isolate: false,
    fileParallelism: false,
  },
};
