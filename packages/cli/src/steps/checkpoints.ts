/**
 * The rules every training command follows for its checkpoint folder: never overwrite an earlier run's
 * checkpoint unless asked (`--overwrite`), continue it with `--resume`, and after an interruption say
 * exactly which command continues the run.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainResult } from '@ldmae/core';
import { InterruptedError, resumeCommand, UsageError } from '../errors.js';
import { exists } from '../files.js';
import type { Reporter } from '../progress.js';

/** Where a training run keeps its checkpoint (a folder: model.safetensors + meta.json). */
export function checkpointDir(outDir: string): string {
  return join(outDir, 'checkpoint');
}

/**
 * Decide how a training run starts in `outDir`: from scratch (no checkpoint, or `overwrite`, which
 * deletes it and `logFiles`), or from the checkpoint (`resume`). A checkpoint without either flag is a
 * UsageError: starting over silently would destroy it.
 * @returns the checkpoint path to resume from, or null
 */
export async function prepareCheckpoint(opts: {
  outDir: string;
  resume: boolean;
  overwrite: boolean;
  argv: readonly string[];
  reporter: Reporter;
  logFiles?: string[];
  what: string;
}): Promise<string | null> {
  const dir = checkpointDir(opts.outDir);
  const has = await exists(join(dir, 'meta.json'));
  if (opts.resume && opts.overwrite) throw new UsageError('--resume and --overwrite cannot be used together');
  if (has && opts.overwrite) {
    await rm(dir, { recursive: true, force: true });
    for (const f of opts.logFiles ?? []) await rm(f, { force: true });
    return null;
  }
  if (has && !opts.resume) {
    throw new UsageError(
      `${dir} holds the checkpoint of an earlier ${opts.what} run; not overwriting it`,
      `continue it with: ${resumeCommand(opts.argv)}\nor start over with --overwrite, or choose another --out`,
    );
  }
  if (!has && opts.resume) {
    opts.reporter.warn(`--resume: no checkpoint in ${dir}; starting from step 0`);
    return null;
  }
  if (!has) for (const f of opts.logFiles ?? []) await rm(f, { force: true });
  return has ? dir : null;
}

/** Throw the interruption error (with the resume command) when a training run was aborted. */
export function throwIfAborted(
  result: Pick<TrainResult, 'stopReason' | 'step' | 'lastCheckpointStep'>,
  what: string,
  steps: number,
  ckpt: string,
  argv: readonly string[],
): void {
  if (result.stopReason !== 'aborted') return;
  const saved =
    result.lastCheckpointStep !== null
      ? `the checkpoint in ${ckpt} holds step ${result.lastCheckpointStep}`
      : `the last checkpoint in ${ckpt} was kept`;
  throw new InterruptedError(
    `${what} interrupted at step ${result.step} of ${steps}; ${saved}`,
    `resume with: ${resumeCommand(argv)}`,
  );
}
