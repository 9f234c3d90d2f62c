/**
 * The rules every training command follows for its checkpoint folder: never overwrite an earlier run's
 * checkpoint unless asked (`--overwrite`), continue it with `--resume` (with the same options unless
 * `--allow-changes`, and the log cut back to the checkpoint), and after an interruption say exactly
 * which command continues the run.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveAutoencoderKLPresetName } from '@ldmae/baselines';
import { FileOperationError, parseCheckpointMeta, type TrainResult, writeFileAtomic } from '@ldmae/core';
import { readResolvedConfig } from '../config.js';
import { CliError, InterruptedError, resumeCommand, UsageError } from '../errors.js';
import { exists, jsonlWriter } from '../files.js';
import type { ResolvedOptions } from '../options.js';
import type { PhaseHandle, Reporter } from '../progress.js';

/** Where a training run keeps its checkpoint (a folder: model-<generation>.safetensors + meta.json). */
export function checkpointDir(outDir: string): string {
  return join(outDir, 'checkpoint');
}

/**
 * A recorded option value as it compares on `--resume`: a run started under a deprecated baseline
 * preset name ('tiny-f4d4') resumes under its current name ('f4d4-tiny').
 */
function canonicalOption(key: string, v: unknown): unknown {
  if (key !== 'preset' || typeof v !== 'string') return v;
  try {
    return resolveAutoencoderKLPresetName(v);
  } catch {
    return v; // a VMAE or LightningDiT preset
  }
}

/** Options that may differ between a run and its `--resume` without changing what is trained. */
const RESUME_NEUTRAL = new Set([
  // A run may be extended or shortened: its learning-rate schedule then runs to the new total.
  'steps',
  'out',
  'resume',
  'overwrite',
  'allowChanges',
  'checkpointEvery',
  'json',
  'config',
  'backend',
  'skipBadImages',
]);

/** What {@link prepareCheckpoint} needs to know about the run. */
export interface PrepareCheckpointOptions {
  outDir: string;
  resume: boolean;
  /** Delete an earlier run's checkpoint and start over (default false). */
  overwrite?: boolean;
  argv: readonly string[];
  reporter: Reporter;
  /** Files of the run deleted when it starts over; the first is its JSON-lines training log. */
  logFiles?: string[];
  what: string;
  /**
   * The options of this invocation: on `--resume` they are compared with those the run recorded in
   * its config.json, and a difference is refused unless `allowChanges`.
   */
  options?: ResolvedOptions;
  /** Accept option changes on `--resume` (`--allow-changes`): they are written to the log instead. */
  allowChanges?: boolean;
}

/**
 * Decide how a training run starts in `outDir`: from scratch (no checkpoint, or `overwrite`, which
 * deletes it and `logFiles`), or from the checkpoint (`resume`). Everything is checked before anything
 * is written: a checkpoint without either flag is a UsageError (starting over silently would destroy
 * it), and so is a `--resume` with other options than the run's (unless `allowChanges`). On resume the
 * training log is cut back to the checkpoint's step, so steps redone after a crash are not logged twice.
 * @returns the checkpoint path to resume from, or null
 */
export async function prepareCheckpoint(opts: PrepareCheckpointOptions): Promise<string | null> {
  const dir = checkpointDir(opts.outDir);
  const has = await exists(join(dir, 'meta.json'));
  checkEarlierRun(opts, has, `${dir} holds the checkpoint of an earlier ${opts.what} run`, opts.argv);
  if (has && opts.resume) {
    const step = await checkpointStep(dir);
    const changes = opts.options
      ? await checkResumeOptions(opts.outDir, opts.options, opts.allowChanges === true)
      : [];
    const log = opts.logFiles?.[0];
    if (log) await truncateLog(log, step);
    if (changes.length > 0) {
      opts.reporter.warn(
        `--allow-changes: resuming at step ${step} with ${changes.map((c) => c.text).join('; ')}`,
      );
      if (log) {
        const record = Object.fromEntries(changes.map((c) => [c.key, { run: c.run, now: c.now }]));
        jsonlWriter(log)({ event: 'resume-with-changes', at_step: step, changes: record });
      }
    }
    return dir;
  }
  if (has && opts.overwrite) await rm(dir, { recursive: true, force: true });
  if (!has && opts.resume) {
    opts.reporter.warn(`--resume: no checkpoint in ${dir}; starting from step 0`);
    return null;
  }
  for (const f of opts.logFiles ?? []) await rm(f, { force: true });
  return null;
}

/**
 * Refuse `--resume` with `--overwrite`, and an earlier run (`had`; `earlier` says what the output
 * folder holds) that the options neither continue nor replace.
 */
export function checkEarlierRun(
  o: { resume?: boolean; overwrite?: boolean },
  had: boolean,
  earlier: string,
  argv: readonly string[],
): void {
  if (o.resume && o.overwrite) throw new UsageError('--resume and --overwrite cannot be used together');
  if (had && !o.resume && !o.overwrite)
    throw new UsageError(
      `${earlier}; not overwriting it`,
      `continue it with: ${resumeCommand(argv)}\nor start over with --overwrite, or choose another --out`,
    );
}

/**
 * The check of a multi-stage run (`name`: 'study', 'quickstart') between its stages: once Ctrl-C
 * aborted `ctx.signal`, throw the interruption before `what`, saying what is `kept` and how to resume.
 */
export function stopCheck(
  ctx: { signal: AbortSignal; argv: readonly string[] },
  name: string,
  kept: string,
): (what: string) => void {
  return (what) => {
    if (ctx.signal.aborted)
      throw new InterruptedError(
        `${name} interrupted before ${what}; ${kept}`,
        `resume with: ${resumeCommand(ctx.argv)}`,
      );
  };
}

/** The step a checkpoint folder holds, from the metadata copy in its meta.json. */
async function checkpointStep(dir: string): Promise<number> {
  const path = join(dir, 'meta.json');
  let meta: ReturnType<typeof parseCheckpointMeta>;
  try {
    meta = parseCheckpointMeta(await readFile(path), path);
  } catch (e) {
    throw new CliError(`--resume: cannot read the checkpoint in ${dir}: ${(e as Error).message}`, {
      hint: 'start over with --overwrite, or choose another --out',
    });
  }
  const step = Number(meta.metadata.step);
  return Number.isInteger(step) && step >= 0 ? step : 0;
}

/** An option whose value differs between a run and its resume. */
export interface OptionChange {
  key: string;
  /** The value the run was started with (null: unset). */
  run: unknown;
  /** The value now. */
  now: unknown;
  /** `--flag: <run> in the run, <now> now`. */
  text: string;
}

/**
 * Compare the options of a `--resume` with those recorded in `outDir`'s config.json (nothing to
 * compare when there is none). A difference is a UsageError listing every changed option, unless
 * `allowChanges`; then the changes are returned for the caller to record. `neutral` names options
 * beyond the usual ones (output, flags, backend, steps) that may change freely.
 */
export async function checkResumeOptions(
  outDir: string,
  now: ResolvedOptions,
  allowChanges: boolean,
  neutral: readonly string[] = [],
): Promise<OptionChange[]> {
  const prev = await readResolvedConfig(outDir);
  if (!prev) return [];
  const keys = new Set([...Object.keys(prev.options), ...Object.keys(now)]);
  const out: OptionChange[] = [];
  for (const key of [...keys].sort()) {
    if (RESUME_NEUTRAL.has(key) || neutral.includes(key)) continue;
    const a = prev.options[key] ?? null;
    const b = now[key] ?? null;
    if (JSON.stringify(canonicalOption(key, a)) === JSON.stringify(canonicalOption(key, b))) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const show = (v: unknown) => (v === null ? 'unset' : JSON.stringify(v));
    out.push({ key, run: a, now: b, text: `${flag}: ${show(a)} in the run, ${show(b)} now` });
  }
  if (out.length > 0 && !allowChanges) {
    throw new UsageError(
      `--resume: the run in ${outDir} was started with other options:\n${out.map((c) => `  ${c.text}`).join('\n')}`,
      'resume with the same options, or accept the changes with --allow-changes (they are recorded in the log)',
    );
  }
  return out;
}

/** Drop the lines of a JSON-lines training log after `step` (steps a resumed run will redo). */
async function truncateLog(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  const keep: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // the torn last line of a killed run
    }
    const s = (rec as { step?: unknown }).step;
    if (typeof s === 'number' && s > step) continue;
    keep.push(line);
  }
  const next = keep.length ? `${keep.join('\n')}\n` : '';
  if (next !== text) await writeFileAtomic(path, new TextEncoder().encode(next), 'training log');
}

/**
 * The error to report for a failed training run: when it resumed from `resumeFrom` and the message
 * matches `misfit`, the checkpoint does not fit (a failed save names its file: FileOperationError).
 */
export function trainingError(e: unknown, resumeFrom: string | null, misfit: RegExp): unknown {
  if (!resumeFrom || e instanceof FileOperationError || !misfit.test((e as Error).message)) return e;
  return new CliError(`cannot resume from ${resumeFrom}: ${(e as Error).message}`, {
    hint: 'the checkpoint is corrupt or was made with other model options; use the same options, or start over with --overwrite',
  });
}

/**
 * End the progress phase of a training run with its last loss (saying so when its time budget ended
 * it); when the run was aborted, throw the interruption error (with the resume command).
 */
export function finishTraining(
  phase: PhaseHandle,
  result: TrainResult,
  what: string,
  steps: number,
  ckpt: string,
  argv: readonly string[],
): void {
  phase.finish({
    status: result.stopReason === 'aborted' ? 'stopped' : 'done',
    extras: { loss: result.losses.at(-1) ?? null },
    ...(result.stopReason === 'time-limit' ? { note: 'its time budget was used' } : {}),
  });
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
