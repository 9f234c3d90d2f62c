/**
 * Crash-safe file writing for Node: atomic replacement of one file, errors that name the file and the
 * operation, and the clean-up of temporary files left by killed writers.
 *
 * Every mutating file-system call goes through {@link fsStep}, so a test can stop the process (or fail
 * with ENOSPC) before any one of them and check that what is on disk still loads.
 */
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * A file-system operation that failed, with the file and what was being done: `message` reads
 * "cannot <action> '<path>': <reason> (<code>)". `code` is Node's error code (ENOSPC, EACCES, ...), and
 * `cause` the original error.
 */
export class FileOperationError extends Error {
  constructor(
    /** What was being done, e.g. 'write checkpoint weights'. */
    readonly action: string,
    /** The file or folder it was done to. */
    readonly path: string,
    /** Node's error code, when there was one. */
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot ${action} '${path}': ${reasonOf(cause)}`, { cause });
    this.name = 'FileOperationError';
  }
}

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EEXIST: 'a file of that name exists',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'no such file or folder',
  EMFILE: 'too many open files',
};

function reasonOf(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && REASONS[code]) return `${REASONS[code]} (${code})`;
  return e instanceof Error ? e.message : String(e);
}

/** A hook run before each mutating file-system step (tests inject kills and faults with it). */
export type FsStepHook = (action: string, path: string) => void;
let hook: FsStepHook | null = null;

/** Install (or with null remove) the {@link FsStepHook}. For fault-injection tests; not part of the API. */
export function setFsStepHook(h: FsStepHook | null): void {
  hook = h;
}

/** Run one file-system step; a failure becomes a {@link FileOperationError} naming `path` and `action`. */
export async function fsStep<T>(action: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    hook?.(action, path);
    return await fn();
  } catch (e) {
    if (e instanceof FileOperationError) throw e;
    throw new FileOperationError(action, path, (e as { code?: string })?.code, e);
  }
}

const CHUNK = 1 << 30;
let tmpCounter = 0;
/** Temporary files this process is writing right now (never removed as stale). */
const inFlight = new Set<string>();

/** `.<name>.tmp-<pid>-<time>-<n>`: the name says which process wrote it. */
const TMP_RE = /^\.(.+)\.tmp-(\d+)-\d+(?:-\d+)?$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Remove the temporary files that killed writers left in `dir` (`.<name>.tmp-<pid>-...` of a process
 * that no longer runs, or of this process but not being written). Best effort; returns the names
 * removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TMP_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const pid = Number(m[2]);
    if (inFlight.has(path) || (pid !== process.pid && processAlive(pid))) continue;
    try {
      await fsStep('remove the stale temporary file', path, () => unlink(path));
      removed.push(name);
    } catch {
      // Gone already, or not ours to remove: harmless.
    }
  }
  return removed;
}

/** fsync a folder so that renames inside it are durable (not possible on some platforms: skipped there). */
export async function syncDir(dir: string): Promise<void> {
  let d: Awaited<ReturnType<typeof open>> | undefined;
  try {
    d = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await fsStep('sync the folder', dir, () => d.sync());
  } catch (e) {
    // Windows cannot fsync a folder (EPERM / EISDIR); a real I/O error must not pass silently.
    const code = (e as FileOperationError).code;
    if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await d.close().catch(() => {});
  }
}

/**
 * Write `data` (one array, or chunks written back to back) to `path` atomically: a temporary file beside
 * it (same folder, so the rename never crosses file systems), fsync, rename over `path`, then fsync the
 * folder where the platform allows. On failure the temporary file is removed, `path` is untouched and
 * the error is a {@link FileOperationError} naming the file (`what` says what it holds, for the message).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | readonly Uint8Array[],
  what = 'file',
): Promise<void> {
  if (typeof path !== 'string' || !path)
    throw new TypeError('writeFileAtomic: path must be a non-empty string');
  const chunks = data instanceof Uint8Array ? [data] : data;
  if (!Array.isArray(chunks) || chunks.some((c) => !(c instanceof Uint8Array))) {
    throw new TypeError('writeFileAtomic: data must be a Uint8Array or an array of them');
  }
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`);
  inFlight.add(tmp);
  try {
    const fh = await fsStep(`create the ${what}`, path, () => open(tmp, 'wx'));
    try {
      for (const c of chunks) {
        for (let off = 0; off < c.length; ) {
          const { bytesWritten } = await fsStep(`write the ${what}`, path, () =>
            fh.write(c, off, Math.min(CHUNK, c.length - off)),
          );
          off += bytesWritten;
        }
      }
      await fsStep(`write the ${what}`, path, () => fh.sync());
    } finally {
      await fh.close().catch(() => {});
    }
    await fsStep(`replace the ${what}`, path, () => rename(tmp, path));
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
  await syncDir(dir);
}
