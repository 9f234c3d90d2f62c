/**
 * `ldmae study`: the paper's comparison of the five autoencoders (AE, DAE, VAE, SD-VAE, VMAE) and the
 * VMAE ablation, end to end under one budget, with study.html / study.json and a verdict per claim.
 */

import { type CommandOptions, defineCommand } from '../command.js';
import type { OptionSpec } from '../options.js';
import { STUDY_MODELS } from '../study/plan.js';
import { runStudy } from '../study/run.js';
import { emaSpec, epsSpec, guidanceSpecs, outSpec, seedSpec } from './shared.js';

const studySpecs = [
  { ...outSpec('study'), description: 'output folder' },
  {
    key: 'data',
    type: 'string',
    description: "data set: 'fashion-mnist', 'mnist', an image folder or an .npz",
    default: 'fashion-mnist',
  },
  { key: 'minutes', type: 'number', description: 'time budget in minutes', default: 60, min: 0.5 },
  {
    key: 'models',
    type: 'string',
    description: `autoencoders to compare, comma-separated (of ${STUDY_MODELS.join(', ')})`,
    default: STUDY_MODELS.join(','),
  },
  {
    key: 'masks',
    type: 'string',
    description:
      'Fig. 7 segmentation: a folder of label images mirroring an image-folder --data (default: bright pixels are the object)',
  },
  { key: 'ablation', type: 'boolean', description: 'also the VMAE ablation of Table 4', default: true },
  {
    key: 'seeds',
    type: 'int',
    description: 'repeat every training with this many seeds (verdicts get error bars)',
    default: 1,
    min: 1,
    max: 10,
  },
  {
    key: 'budgetRule',
    type: 'string',
    description: 'equal training wall time or equal images seen',
    default: 'time',
    choices: ['time', 'images'],
  },
  {
    key: 'extractor',
    type: 'string',
    description:
      "feature network of rFID / gFID: 'offline' (nsfwjs InceptionV3) or the path of the FID Inception weights",
    default: 'offline',
  },
  {
    key: 'extractorSize',
    type: 'int',
    description: 'input side of the offline feature network',
    default: 75,
    min: 32,
  },
  {
    key: 'aeSteps',
    type: 'int',
    description: 'autoencoder steps per run (default: from the budget)',
    min: 1,
  },
  {
    key: 'ldmSteps',
    type: 'int',
    description: 'diffusion steps per run (default: from the budget)',
    min: 1,
  },
  {
    key: 'evalImages',
    type: 'int',
    description: 'images per metric (default: from the budget, 50..500)',
    min: 2,
  },
  {
    key: 'aeBatchSize',
    type: 'int',
    description: 'autoencoder batch size (all models)',
    default: 32,
    min: 1,
  },
  { key: 'aeLr', type: 'number', description: 'VMAE peak learning rate', default: 2e-3, min: 0 },
  {
    key: 'baselineLr',
    type: 'number',
    description: 'AE / DAE / VAE / SD-VAE peak learning rate',
    default: 1e-3,
    min: 0,
  },
  {
    key: 'ldmPreset',
    type: 'string',
    description: 'LightningDiT preset of every diffusion model',
    default: 'LightningDiT-Nano/1',
  },
  { key: 'ldmBatchSize', type: 'int', description: 'diffusion batch size', default: 32, min: 1 },
  { key: 'ldmLr', type: 'number', description: 'diffusion peak learning rate', default: 3e-3, min: 0 },
  emaSpec('EMA decay of the diffusion weights (warmed up)'),
  ...guidanceSpecs,
  {
    key: 'shift',
    type: 'number',
    description: 'timestep shift of the Euler sampler',
    default: 0.3,
    min: 0,
  },
  { ...epsSpec, default: [0, 0.01, 0.05, 0.1, 0.2, 0.3] },
  seedSpec,
  { key: 'resume', type: 'boolean', description: 'continue the study in --out (finished stages are kept)' },
  { key: 'overwrite', type: 'boolean', description: 'delete an earlier study in --out first' },
] as const satisfies readonly OptionSpec[];

/** The options of `ldmae study` (runStudy takes them). */
export type StudyOptions = CommandOptions<typeof studySpecs>;

export const studyCommand = defineCommand({
  name: 'study',
  summary:
    "the paper's comparison of AE, DAE, VAE, SD-VAE and VMAE (Tables 1-4, Figs. 6-7) with a verdict per claim",
  details: `For each autoencoder (and, with --ablation, the VMAE without its perceptual term, KL term and
masking): train it with its own objective (AE: MSE; DAE: denoising MSE; VAE: MSE + KL; SD-VAE: L1 + LPIPS
+ KL + GAN; VMAE: the stage-1 recipe with the perceptual term), measure reconstruction (Table 1), size and
speed (Table 2), rFID under latent noise (Fig. 6) and sigma^2 / rho against a segmentation (Fig. 7:
foreground / background by brightness, or the label images of --masks); encode the training images and train one LightningDiT per autoencoder, identical
configuration and steps, and measure gFID, precision and recall against the test split (Table 3).
--budget-rule time (default) gives every autoencoder the same training wall time; images gives them
the same number of steps. A short calibration turns --minutes into step counts.
Every stage is kept in <out>/<run>/result.json: --resume skips finished stages and continues an
interrupted training from its checkpoint; Ctrl-C stops between steps.
Outputs in --out: study.html, study.json, plan.json, one folder per run.`,
  specs: studySpecs,
  run: async (o, ctx) => void (await runStudy(o, ctx)),
});
