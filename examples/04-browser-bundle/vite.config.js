import { builtinModules } from 'node:module';
import { createLogger, defineConfig } from 'vite';

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

// Every warning fails the build (e.g. "Module 'fs' has been externalized for browser compatibility").
const logger = createLogger();
let warnings = 0;
const warn = logger.warn.bind(logger);
logger.warn = (msg, opts) => {
  warnings++;
  warn(msg, opts);
};
logger.warnOnce = logger.warn;

export default defineConfig({
  customLogger: logger,
  // The app chunk is TensorFlow.js core (about 350 kB minified) plus the library; Vite's generic
  // 500 kB advice would fail this build on size alone, which is not what it checks.
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  plugins: [
    {
      name: 'forbid-node-builtins',
      enforce: 'pre',
      // A Node built-in reached from an @ldmae package is an error, not a silent empty shim. (Third-party
      // code such as tfjs's wasm glue maps its guarded built-ins to `false` in its "browser" field; an
      // unmapped one makes Vite warn, which fails the build through the logger above.)
      resolveId(source, importer) {
        if (builtins.has(source) && /[\\/]node_modules[\\/]@ldmae[\\/]/.test(importer ?? '')) {
          throw new Error(
            `Node built-in '${source}' imported by ${importer ?? 'the entry'} in a browser build`,
          );
        }
        return null;
      },
      closeBundle() {
        if (warnings > 0)
          throw new Error(`vite build: ${warnings} warning(s); a browser build must be clean`);
      },
    },
  ],
});
