/**
 * @ldmae/diffusion: DiT / LightningDiT denoisers, rectified flow, DDPM/DDIM and ODE samplers, CFG and
 * the LDM trainer.
 *
 * Time convention of the rectified-flow code: t in [0, 1], t = 0 is noise and t = 1 is data
 * (x_t = t x1 + (1 - t) x0, velocity x1 - x0), as LightningDiT. DDPM / DDIM use integer steps
 * 0..T-1 where larger is noisier.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';

// Denoisers: the contract, DiT / LightningDiT, their configs, presets, sizes and checkpoints.
export type { Denoiser, DenoiserModule } from './denoiser.js';
// Rectified flow and its ODE solvers; DDPM / DDIM; the scheduler contract.
export {
  type FlowLossInputs,
  RectifiedFlow,
  type RectifiedFlowConfig,
  type RectifiedFlowOptions,
  shiftedTimeGrid,
  shiftTimestep,
  type TimeSampling,
  unshiftTimestep,
} from './flow/rectified-flow.js';
export { FlowEulerScheduler, FlowHeunScheduler, type FlowSchedulerOptions } from './flow/solvers.js';
export {
  type DenoiserConfig,
  DIT_PRESETS,
  DiT,
  type DiTArchitecture,
  type DiTConfig,
  type DiTOptions,
  denoiserFromConfig,
  ditConfig,
  type InitOptions,
  LIGHTNINGDIT_PRESETS,
  LightningDiT,
  type LightningDiTConfig,
  type LightningDiTFeatures,
  type LightningDiTOptions,
  lightningDiTConfig,
  type PresetShape,
} from './models/dit.js';
export {
  DENOISER_CHECKPOINT_FORMAT,
  denoiserRegistry,
  ditDenoiserKind,
  type LoadDenoiserOptions,
  loadDenoiser,
  registerDenoiserKind,
} from './models/kind.js';
export { countParameters, type ParameterCount } from './models/param-count.js';
export {
  LatentDiffusion,
  type LatentDiffusionOptions,
  type SampleBatch,
  type SampleOptions,
  type SampleProgress,
} from './pipeline/latent-diffusion.js';
export {
  denoiserFromTrainingCheckpoint,
  type HostCheckpointPayload,
  type LatentDiffusionFromCheckpointOptions,
  type LdmCheckpointInfo,
  type LdmCheckpointInfoOptions,
  type LdmCheckpointSource,
  type LdmSamplingOptions,
  type LoadedLatentDiffusion,
  latentDiffusionFromCheckpoint,
  latentDiffusionFromInfo,
  loadLatentDiffusionCheckpoint,
  parseLdmCheckpointInfo,
  type TrainedDenoiser,
  type TrainedDenoiserOptions,
} from './pipeline/ldm-checkpoint.js';
export {
  type LoadPipelineOptions,
  loadPipeline,
  PIPELINE_FORMAT,
  type PipelineInfo,
  type PipelineJson,
  parsePipelineJson,
  type SavePipelineOptions,
} from './pipeline/pipeline-folder.js';
// Sampling: guidance, the reverse loop and the pipeline with its folder and checkpoint loaders.
export { type GuidanceOptions, guidedPrediction } from './sampling/guidance.js';
export { type SampleLoopOptions, sampleLoop } from './sampling/sample-loop.js';
export { schedulerFromConfig } from './schedulers/create.js';
export { DDIMScheduler } from './schedulers/ddim.js';
export { DDPMScheduler } from './schedulers/ddpm.js';
export type { DiscreteSchedulerOptions } from './schedulers/discrete.js';
export type {
  BetaScheduleName,
  DiscreteSchedulerConfig,
  FlowSchedulerConfig,
  PredictionType,
  Scheduler,
  SchedulerConfig,
  StepOptions,
  TimestepSpacing,
  UserTimesteps,
} from './schedulers/scheduler.js';

// Training: the objectives and the trainer.
export * from './train/checkpoint.js';
export {
  type DiffusionObjective,
  EpsilonObjective,
  type EpsilonObjectiveConfig,
} from './train/objective.js';
export * from './train/trainer.js';
