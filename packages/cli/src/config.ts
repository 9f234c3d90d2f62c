/**
 * The resolved configuration every run writes next to its outputs (`config.json`): the command, every
 * option value after defaults, the `--config` file and the command line were merged, anything the run
 * derived (step counts from a time budget), and what it ran on. `--config <that file>` replays the run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeOutput } from './files.js';
import type { ResolvedOptions } from './options.js';
import type { RuntimeInfo } from './runtime.js';
import { VERSION } from './version.js';

/** File name of the resolved config in an output folder. */
export const CONFIG_FILE = 'config.json';

/** What `config.json` holds. */
export interface ResolvedConfig {
  command: string;
  /** @ldmae/cli version that wrote it. */
  version: string;
  /** ISO time the run started. */
  created: string;
  /** Every option (a `--config` file may be this object or just its `options`). */
  options: ResolvedOptions;
  /** Values the run derived from the options (e.g. steps from a time budget). */
  derived?: Record<string, unknown>;
  runtime?: RuntimeInfo;
}

/** Write `config.json` into `outDir` (created if needed), atomically. Returns its path. */
export async function writeResolvedConfig(
  outDir: string,
  command: string,
  options: ResolvedOptions,
  extra: { derived?: Record<string, unknown>; runtime?: RuntimeInfo; created?: string } = {},
): Promise<string> {
  const { config: _c, json: _j, ...opts } = options;
  const doc: ResolvedConfig = {
    command,
    version: VERSION,
    created: extra.created ?? new Date().toISOString(),
    options: opts,
    ...(extra.derived ? { derived: extra.derived } : {}),
    ...(extra.runtime ? { runtime: extra.runtime } : {}),
  };
  const path = join(outDir, CONFIG_FILE);
  await writeOutput(path, `${JSON.stringify(doc, null, 2)}\n`, 'run configuration');
  return path;
}

/** Read the `config.json` of an earlier run in `outDir`, or null when there is none (or it is unreadable). */
export async function readResolvedConfig(outDir: string): Promise<ResolvedConfig | null> {
  try {
    const doc = JSON.parse(await readFile(join(outDir, CONFIG_FILE), 'utf8')) as ResolvedConfig;
    return doc && typeof doc === 'object' && typeof doc.command === 'string' ? doc : null;
  } catch {
    return null;
  }
}
