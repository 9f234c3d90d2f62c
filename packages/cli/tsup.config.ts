import { defineConfig } from 'tsup';

export default defineConfig({
  // bin.ts starts with a shebang: tsup keeps it and marks dist/bin.js executable.
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
