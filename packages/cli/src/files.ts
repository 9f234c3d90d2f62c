/** Small file helpers of the commands: JSON / JSON-lines files and existence checks. */
import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FileOperationError, writeFileAtomic } from '@ldmae/core';

/** Whether `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

/** Run a synchronous file operation; a failure names the file and what was being done. */
function fsSync<T>(action: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new FileOperationError(action, path, (e as { code?: string }).code, e);
  }
}

/** Create `dir` and its parents (a failure names the folder). */
export function ensureDir(dir: string): void {
  fsSync('create the output folder', dir, () => mkdirSync(dir, { recursive: true }));
}

/**
 * Write an output file (an image, a report) atomically, creating its folder: a crash leaves the old
 * file or the new one, and a failure names the file.
 */
export async function writeOutput(
  path: string,
  data: Uint8Array | string,
  what = 'output file',
): Promise<void> {
  ensureDir(dirname(path));
  await writeFileAtomic(path, typeof data === 'string' ? new TextEncoder().encode(data) : data, what);
}

/** Write `value` as indented JSON, atomically. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeOutput(path, `${JSON.stringify(value, jsonReplacer, 2)}\n`, 'JSON file');
}

/** Non-finite numbers become null in JSON (JSON has no NaN / Infinity). */
export function jsonReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

/** Read a JSON file, or null when it does not exist or does not parse. */
export async function readJson<T = unknown>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/**
 * A JSON-lines logger appending to `path` (a resumed run continues the same file). Synchronous appends:
 * a line is on disk when the call returns, so an interrupted run keeps its log.
 */
export function jsonlWriter(path: string): (line: Record<string, unknown>) => void {
  ensureDir(dirname(path));
  return (line) =>
    fsSync('append to the log', path, () => appendFileSync(path, `${JSON.stringify(line, jsonReplacer)}\n`));
}

/** Lines of a JSON-lines file (bad lines skipped), or [] when it does not exist. */
export async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A torn last line of a killed run.
    }
  }
  return out;
}
