/**
 * @ldmae/cli: the `ldmae` command (train, encode, sample, evaluate and the end-to-end quickstart), and
 * the pieces it is built from for programs that want to drive it.
 * @packageDocumentation
 */

export type { AutoencoderKind } from './autoencoders.js';
export * from './command.js';
export { commands } from './commands/index.js';
export * from './config.js';
export * from './errors.js';
export * from './options.js';
export * from './program.js';
export * from './progress.js';
export { type MetricRow, pngDataUri, type ReportData, renderReport } from './report/html.js';
export { type ChartOptions, lineChart, type Series } from './report/svg.js';
export * from './runtime.js';
export type { TrainLdmSettings } from './steps/train-ldm.js';
export type { ClaimResult, Measured, StudyRow, StudyTables, Verdict } from './study/claims.js';
export {
  compare as compareMeasured,
  judgeClaims,
  PAPER_TABLE1,
  PAPER_TABLE2,
  PAPER_TABLE3,
  PAPER_TABLE4,
} from './study/claims.js';
export { type BudgetRule, planAeSteps, STUDY_MODELS, type StudyRunSpec, studyRuns } from './study/plan.js';
export { runStudy, type StudyPlan, type StudyResult, type StudyRunResult } from './study/run.js';
export { VERSION } from './version.js';
