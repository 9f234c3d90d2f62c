/**
 * Errors the CLI reports without a stack trace: each says what went wrong and, where it can, how to
 * go on (`hint`), e.g. the `--resume` command line after an interruption.
 */

/** Exit codes: 0 ok, 1 failure, 2 bad usage (commander's convention too), 130 interrupted (128 + SIGINT). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** An error meant for the user: printed as `ldmae: error: message` plus the hint, never with a stack. */
export class CliError extends Error {
  /** Process exit code. */
  readonly exitCode: number;
  /** What to do next (a command to run, an option to change), or undefined. */
  readonly hint: string | undefined;

  constructor(message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'CliError';
    this.exitCode = opts.exitCode ?? EXIT.failure;
    this.hint = opts.hint;
  }
}

/** A bad option value or an impossible combination of options (exit code 2), found before any work. */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: EXIT.usage, hint });
    this.name = 'UsageError';
  }
}

/** The run was stopped by Ctrl-C (SIGINT) or SIGTERM after saving what it could (exit code 130). */
export class InterruptedError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: EXIT.interrupted, hint });
    this.name = 'InterruptedError';
  }
}

/** Exit code and printable text of any thrown value. Library errors keep their own message. */
export function describeError(e: unknown): { exitCode: number; message: string; hint?: string } {
  if (e instanceof CliError) return { exitCode: e.exitCode, message: e.message, hint: e.hint };
  if (e instanceof Error) return { exitCode: EXIT.failure, message: e.message };
  return { exitCode: EXIT.failure, message: String(e) };
}

/** The `--resume` command line that continues `argv` (adds the flag once), quoted for a POSIX shell. */
export function resumeCommand(argv: readonly string[]): string {
  const args = argv.filter((a) => a !== '--resume');
  return ['ldmae', ...args, '--resume']
    .map((s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
