/**
 * The `ldmae` program: commander with one subcommand per file of commands/, output streams that tests
 * can replace, and exit codes instead of process.exit.
 */
import { Command, CommanderError } from 'commander';
import { type CommandDefinition, type ProgramState, registerCommand } from './command.js';
import { commands } from './commands/index.js';
import { EXIT } from './errors.js';
import type { TextSink } from './progress.js';
import { VERSION } from './version.js';

/** Output streams of a program (default the process's). */
export interface ProgramIO {
  stdout?: TextSink;
  stderr?: TextSink;
}

/** The commander program with every subcommand, and the state its actions record. */
export function createProgram(
  io: ProgramIO = {},
  argv: readonly string[] = [],
  defs: readonly CommandDefinition[] = commands,
): { program: Command; state: ProgramState } {
  const state: ProgramState = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    exitCode: EXIT.ok,
    argv,
  };
  const program = new Command('ldmae')
    .description(
      'Latent Diffusion Models with Masked AutoEncoders (LDMAE) in TypeScript: train autoencoders and latent diffusion models, sample, evaluate.\nStart with `ldmae quickstart` (about 10 minutes on 2 cores).',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => void state.stdout.write(s),
      writeErr: (s) => void state.stderr.write(s),
    })
    .exitOverride();
  for (const def of defs) registerCommand(program, def, state).exitOverride();
  return { program, state };
}

/**
 * Run `ldmae` with the user arguments `args` (without `node` and the script). Resolves to the exit
 * code: 0 ok, 1 failure, 2 bad usage, 130 interrupted.
 */
export async function main(args: readonly string[], io: ProgramIO = {}): Promise<number> {
  const { program, state } = createProgram(io, args);
  if (args.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync([...args], { from: 'user' });
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    throw e;
  }
}
