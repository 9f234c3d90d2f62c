#!/usr/bin/env node
// The `ldmae` executable.
import { main } from './program.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Lingering handles (worker threads, wasm) must not keep a finished run alive; stdout drains first.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e: unknown) => {
    process.stderr.write(
      `ldmae: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
