/**
 * @ldmae/cli: the `ldmae` command (train, encode, sample, evaluate and the end-to-end quickstart), and
 * what a program needs to run it in-process or add commands of its own.
 * @packageDocumentation
 */

export type { AutoencoderKind } from './autoencoders.js';
export type {
  CommandContext,
  CommandDefinition,
  CommandOptions,
  ProgramState,
  TypedCommandDefinition,
} from './command.js';
export { COMMON_SPECS, defineCommand } from './command.js';
export { commands } from './commands/index.js';
export type { QuickstartOptions } from './commands/quickstart.js';
export type { StudyOptions } from './commands/study.js';
export { CliError, EXIT, InterruptedError, UsageError } from './errors.js';
export type { OptionSpec, OptionsOf, OptionType, OptionValue, ResolvedOptions } from './options.js';
export { addOptions, resolveOptions } from './options.js';
export { createProgram, main, type ProgramIO } from './program.js';
export {
  type OutputMode,
  type PhaseExtras,
  type PhaseHandle,
  type PhaseSummary,
  Reporter,
  type ReporterOptions,
  type TextSink,
} from './progress.js';
export { runQuickstart } from './quickstart/run.js';
export { type MetricRow, type ReportData, renderReport } from './report/html.js';
export type { ChartOptions, Series } from './report/svg.js';
export { BACKENDS, initBackend, type RuntimeInfo, runtimeInfo } from './runtime.js';
export type { TrainLdmSettings } from './steps/train-ldm.js';
export type { ClaimResult, Measured, StudyRow, StudyTables, Verdict } from './study/claims.js';
export { judgeClaims } from './study/claims.js';
export { type BudgetRule, planAeSteps, STUDY_MODELS, type StudyRunSpec, studyRuns } from './study/plan.js';
export { runStudy, type StudyPlan, type StudyResult, type StudyRunResult } from './study/run.js';
export { VERSION } from './version.js';
