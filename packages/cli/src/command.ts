/**
 * What every subcommand shares: the common options (`--config`, `--json`, `--backend`, `--threads`), option
 * resolution, the reporter, Ctrl-C handling and error reporting. A command is a definition object;
 * {@link registerCommand} turns it into a commander command.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { clearFolderScans } from './data-source.js';
import { CliError, describeError, EXIT, InterruptedError, resumeCommand, UsageError } from './errors.js';
import { installInterrupt } from './interrupt.js';
import {
  addOptions,
  type OptionSpec,
  type OptionsOf,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { Reporter, type TextSink } from './progress.js';
import { BACKENDS, initBackend, type RuntimeInfo, runtimeInfo } from './runtime.js';

/** What a command's `run` gets besides its options. */
export interface CommandContext {
  reporter: Reporter;
  /** Aborted by Ctrl-C / SIGTERM: long work stops between steps. */
  signal: AbortSignal;
  /** The arguments of this invocation after `ldmae` (for `--resume` hints). */
  argv: readonly string[];
  /** Backend, threads and versions (after the backend was set up). */
  runtime: RuntimeInfo;
}

/** The options a command's `run` gets: those of its table and the {@link COMMON_SPECS}, typed. */
export type CommandOptions<Specs extends readonly OptionSpec[]> = OptionsOf<
  readonly [...Specs, ...typeof COMMON_SPECS]
>;

/** A subcommand. */
export interface CommandDefinition {
  name: string;
  /** One line for `ldmae --help`. */
  summary: string;
  /** Longer text for `ldmae <name> --help`, shown after the options. */
  details?: string;
  /** Positional arguments, e.g. `<input>`. */
  arguments?: { name: string; description: string }[];
  specs: readonly OptionSpec[];
  /** Default true: set up the TensorFlow.js backend before `run`. */
  needsBackend?: boolean;
  run(opts: ResolvedOptions, ctx: CommandContext, args: string[]): Promise<void>;
}

/** A subcommand whose `run` reads the options of its table `Specs` typed (see {@link defineCommand}). */
export interface TypedCommandDefinition<Specs extends readonly OptionSpec[]>
  extends Omit<CommandDefinition, 'specs' | 'run'> {
  specs: Specs;
  run(opts: CommandOptions<Specs>, ctx: CommandContext, args: string[]): Promise<void>;
}

/**
 * A command whose `run` reads its options typed from its spec table (read as `as const`):
 * `--batch-size` of type 'int' with a default is `opts.batchSize: number`.
 */
export function defineCommand<const Specs extends readonly OptionSpec[]>(
  def: TypedCommandDefinition<Specs>,
): CommandDefinition {
  return def;
}

/** Options every command has. */
export const COMMON_SPECS = [
  {
    key: 'config',
    type: 'path',
    description: 'read option values from this JSON file (the command line wins)',
    valueName: 'file',
  },
  {
    key: 'json',
    type: 'boolean',
    description: 'print JSON lines (progress, messages, result) on stdout instead of bars',
  },
  {
    key: 'backend',
    type: 'string',
    description: 'TensorFlow.js backend (auto: tfjs-node-gpu, WebGPU on a GPU, tfjs-node, wasm, cpu)',
    default: 'auto',
    choices: BACKENDS,
  },
  {
    key: 'threads',
    type: 'int',
    min: 1,
    description:
      'threads of the wasm backend: its matrix products run on all of them (default: the CPUs, 1 to 8; 1: single-threaded); fixed for the process once the backend starts',
    valueName: 'n',
  },
  {
    key: 'xnnpackThreads',
    type: 'int',
    min: 1,
    description:
      "how many of the wasm backend's threads run XNNPACK's pool (convolutions and most other kernels; default: half the CPUs, at most --threads)",
    valueName: 'n',
  },
] as const satisfies readonly OptionSpec[];

/** Where a program writes and what it records. */
export interface ProgramState {
  stdout: TextSink;
  stderr: TextSink;
  /** Exit code of the last command run. */
  exitCode: number;
  /** The user arguments of this invocation. */
  argv: readonly string[];
}

/** `--out` names a folder: one that exists as a file is refused before any work. */
async function checkOutFolder(out: unknown): Promise<void> {
  if (typeof out !== 'string') return;
  const st = await stat(out).catch(() => null);
  if (st && !st.isDirectory())
    throw new UsageError(`--out: '${out}' is a file; expected a folder (it is created if needed)`);
}

/** Add `def` as a subcommand of `program`. */
export function registerCommand(program: Command, def: CommandDefinition, state: ProgramState): Command {
  const cmd = program.command(def.name).summary(def.summary).description(def.summary);
  for (const a of def.arguments ?? []) cmd.argument(a.name, a.description);
  addOptions(cmd, [...def.specs, ...COMMON_SPECS]);
  if (def.details) cmd.addHelpText('after', `\n${def.details.trim()}\n`);
  cmd.action(async (...actionArgs: unknown[]) => {
    const command = actionArgs.at(-1) as Command;
    const positional = actionArgs.slice(0, -2).map(String);
    const json = command.opts().json === true;
    const reporter = new Reporter({ json, stdout: state.stdout, stderr: state.stderr });
    const interrupt = installInterrupt((sig) =>
      reporter.warn(
        `${sig}: stopping after the current step and saving a checkpoint (press Ctrl-C again to quit at once)`,
      ),
    );
    try {
      const opts = await resolveOptions(command, [...def.specs, ...COMMON_SPECS]);
      await checkOutFolder(opts.out);
      clearFolderScans();
      const common = opts as OptionsOf<typeof COMMON_SPECS>;
      if (def.needsBackend !== false)
        await initBackend(common.backend, common.threads, common.xnnpackThreads);
      const ctx: CommandContext = {
        reporter,
        signal: interrupt.signal,
        argv: state.argv,
        runtime: runtimeInfo(),
      };
      await def.run(opts, ctx, positional);
      state.exitCode = EXIT.ok;
    } catch (e) {
      // Work stopped by Ctrl-C may surface as a library's AbortError: report it as the interruption it is.
      const d =
        interrupt.received() && !(e instanceof CliError)
          ? describeError(
              new InterruptedError(
                `${def.name} interrupted (${(e as Error).message})`,
                `run it again with: ${resumeCommand(state.argv)}`,
              ),
            )
          : describeError(e);
      if (process.env.LDMAE_DEBUG && e instanceof Error) state.stderr.write(`${e.stack}\n`);
      reporter.error(d.message, d.hint);
      state.exitCode = d.exitCode;
    } finally {
      interrupt.dispose();
    }
  });
  return cmd;
}
