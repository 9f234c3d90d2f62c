#!/usr/bin/env node
// Launcher of `ldmae`. npm links a workspace's bin only if the file exists at install time, and dist/
// appears only after the build, so this committed file is the bin and it loads the built program.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'ldmae: @ldmae/cli is not built yet: run `npm run build` (or `npx nx run @ldmae/cli:build`) first\n',
  );
  process.exit(1);
}
await import(entry.href);
