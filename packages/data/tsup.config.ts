import { defineConfig } from 'tsup';

export default defineConfig({
  // The worker keeps its own entry (dist/prefetch-worker.js): the pool starts it by URL.
  entry: {
    index: 'src/index.ts',
    'index.node': 'src/index.node.ts',
    'prefetch-worker': 'src/node/prefetch-worker.ts',
  },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', 'index.node': 'src/index.node.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
