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

export * from './denoiser.js';
export * from './flow/rectified-flow.js';
export * from './flow/solvers.js';
export * from './models/dit.js';
export {
  DENOISER_CHECKPOINT_FORMAT,
  denoiserRegistry,
  ditDenoiserKind,
  type LoadDenoiserOptions,
  loadDenoiser,
  registerDenoiserKind,
} from './models/kind.js';
export * from './models/layers.js';
export * from './models/lightning-dit.js';
export * from './models/param-count.js';
export * from './pipeline/latent-diffusion.js';
export * from './pipeline/ldm-checkpoint.js';
export {
  type LoadPipelineOptions,
  loadPipeline,
  PIPELINE_FORMAT,
  type PipelineInfo,
  type PipelineJson,
  parsePipelineJson,
  type SavePipelineOptions,
} from './pipeline/pipeline-folder.js';
export * from './pipeline/seeds.js';
export * from './sampling/guidance.js';
export * from './sampling/sample-loop.js';
export * from './schedulers/betas.js';
export * from './schedulers/create.js';
export * from './schedulers/ddim.js';
export * from './schedulers/ddpm.js';
export * from './schedulers/discrete.js';
export * from './schedulers/scheduler.js';
export * from './train/checkpoint.js';
export * from './train/objective.js';
export * from './train/trainer.js';
