import { defineConfig } from 'tsup';

export default defineConfig({
  // kind.ts registers the checkpoint kinds on import: its own file, the one with side effects.
  entry: ['src/index.ts', 'src/kind.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
