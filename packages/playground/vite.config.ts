import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { staticMiddleware } from './server/static.js';

/** Outputs of `ldmae` runs in the repository (`npm run main-job` writes ldmae-out/quickstart/). */
const LDMAE_OUT = fileURLToPath(new URL('../../ldmae-out/', import.meta.url));

/** Serves the repository's ldmae-out/ at /ldmae-out/ in `vite` and `vite preview`. */
function ldmaeOut(): Plugin {
  const mw = staticMiddleware('/ldmae-out/', LDMAE_OUT);
  return {
    name: 'ldmae-out',
    configureServer: (server) => void server.middlewares.use(mw),
    configurePreviewServer: (server) => void server.middlewares.use(mw),
  };
}

export default defineConfig(({ command, isPreview }) => ({
  // Relative asset URLs: the built page works from any folder a static server puts it in.
  base: './',
  // `vite` (dev) compiles the workspace packages from their TypeScript sources; `vite build` uses
  // their built browser bundles (dist/index.js), as an application installing them from npm would.
  resolve:
    command === 'serve' && !isPreview ? { conditions: ['@ldmae/source', ...defaultClientConditions] } : {},
  plugins: [ldmaeOut()],
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
  },
  preview: { port: 4173 },
  server: { port: 5173 },
}));
