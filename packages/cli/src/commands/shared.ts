/** Option tables shared by several commands, so each option reads the same everywhere. */
import { SMOOTHNESS_EPS } from '@ldmae/metrics';
import { AUTOENCODER_KINDS, DEFAULT_PRESET } from '../autoencoders.js';
import type { OptionSpec } from '../options.js';

/** The default output root: every command writes below ./ldmae-out/ unless told otherwise. */
export const OUT_ROOT = 'ldmae-out';

/** `--out <dir>` with a default below ./ldmae-out. */
export const outSpec = (name: string, what = 'output folder') =>
  ({
    key: 'out',
    short: 'o',
    type: 'path',
    description: `${what} (created if needed; config.json is written there)`,
    default: `${OUT_ROOT}/${name}`,
    valueName: 'dir',
  }) as const satisfies OptionSpec;

/** Where images come from. */
export const dataSpecs = (split: 'train' | 'test') =>
  [
    {
      key: 'data',
      type: 'string',
      description:
        'data: mnist (embedded, 10,000 digits), fashion-mnist (Debian package), an image folder, or an .npz/.npy file',
      default: 'mnist',
      valueName: 'source',
    },
    {
      key: 'split',
      type: 'string',
      description:
        'which part of the data: fashion-mnist has its official 60,000 / 10,000 split; mnist, folders and array files are split 90/10 (seed 0, by class when labelled)',
      default: split,
      choices: ['train', 'test', 'all'],
    },
    {
      key: 'imageSize',
      type: 'int',
      description: 'resize and centre-crop images to this side (default: as stored; must be square)',
      min: 8,
    },
    {
      key: 'skipBadImages',
      type: 'boolean',
      description:
        'image folders: leave out files that cannot be read (found by the check at the start, or when decoded) instead of stopping',
    },
  ] as const satisfies readonly OptionSpec[];

/** `--ae <path>`. */
export const aeSpec = {
  key: 'ae',
  type: 'path',
  description:
    'trained autoencoder: a file or folder from `ldmae train-ae`, a reference VMAE .pth, or a diffusers VAE folder',
  default: `${OUT_ROOT}/train-ae/autoencoder.safetensors`,
} as const satisfies OptionSpec;

/** `--ae <path>` of the diffusion commands: by default the autoencoder recorded with the model. */
export const recordedAeSpec = {
  key: 'ae',
  type: 'path',
  description: `${aeSpec.description} (default: the one recorded with --ldm)`,
} as const satisfies OptionSpec;

/** `--weights ema|raw`: which weights of a diffusion checkpoint to sample with. */
export const weightsSpec = {
  key: 'weights',
  type: 'string',
  description:
    "which weights of --ldm: 'ema' (the average, default when the checkpoint has one) or 'raw' (the trained weights)",
  choices: ['ema', 'raw'],
} as const satisfies OptionSpec;

/** `--ldm <path>`. */
export const ldmSpec = {
  key: 'ldm',
  type: 'path',
  description:
    'a trained latent diffusion model: the pipeline folder `ldmae train-ldm` writes (<out>/pipeline), or its training checkpoint folder (<out>/checkpoint)',
  default: `${OUT_ROOT}/train-ldm/pipeline`,
} as const satisfies OptionSpec;

/** `--allow-changes`: a resume may change the options of the run it continues. */
export const allowChangesSpec = {
  key: 'allowChanges',
  type: 'boolean',
  description:
    'with --resume: accept options that differ from the run (batch size, learning rate, seed, ...); the changes are recorded',
} as const satisfies OptionSpec;

/** Resume / overwrite of training commands. */
export const resumeSpecs = [
  {
    key: 'resume',
    type: 'boolean',
    description: 'continue from the checkpoint in --out (after Ctrl-C or a crash)',
  },
  { key: 'overwrite', type: 'boolean', description: 'delete the checkpoint in --out and start over' },
  allowChangesSpec,
  {
    key: 'checkpointEvery',
    type: 'int',
    description: 'save a checkpoint every n steps (and on Ctrl-C)',
    default: 200,
    min: 1,
  },
] as const satisfies readonly OptionSpec[];

/** Steps, batch size and learning rate of a training command (`items`: what a batch holds). */
export const trainingSpecs = (d: { steps: number; batchSize: number; lr: number }, items: string) =>
  [
    { key: 'steps', type: 'int', description: 'optimiser steps', default: d.steps, min: 1 },
    { key: 'batchSize', type: 'int', description: `${items} per step`, default: d.batchSize, min: 1 },
    { key: 'lr', type: 'number', description: 'peak learning rate', default: d.lr, min: 0 },
    {
      key: 'maxMinutes',
      type: 'number',
      description:
        'stop training after this many minutes (the learning rate follows the steps or the time, whichever runs out first)',
      min: 0.001,
    },
  ] as const satisfies readonly OptionSpec[];

/** The training settings' `maxSeconds` from `--max-minutes` (nothing when it is not given). */
export const maxSeconds = (o: { maxMinutes?: number }): { maxSeconds?: number } =>
  o.maxMinutes === undefined ? {} : { maxSeconds: o.maxMinutes * 60 };

/** `--ema`: the decay of the averaged diffusion weights that sample. */
export const emaSpec = (description: string) =>
  ({ key: 'ema', type: 'number', description, default: 0.995, min: 0, max: 1 }) as const satisfies OptionSpec;

/** The autoencoder choice of train-ae / quickstart. */
export const modelSpecs = [
  {
    key: 'model',
    type: 'string',
    description: 'autoencoder kind',
    default: 'vmae',
    choices: AUTOENCODER_KINDS,
  },
  {
    key: 'preset',
    type: 'string',
    description: `model preset (default ${
      DEFAULT_PRESET.vmae === DEFAULT_PRESET.ae
        ? `${DEFAULT_PRESET.vmae} for every kind`
        : `${DEFAULT_PRESET.vmae} for vmae; ${DEFAULT_PRESET.ae} for ae, dae, vae, sd-vae`
    })`,
    valueName: 'name',
  },
] as const satisfies readonly OptionSpec[];

/** ODE steps and guidance scale of every command that samples. */
export const guidanceSpecs = [
  { key: 'sampleSteps', type: 'int', description: 'ODE steps per sample', default: 25, min: 1 },
  { key: 'cfg', type: 'number', description: 'classifier-free guidance scale (1 = off)', default: 4, min: 1 },
] as const satisfies readonly OptionSpec[];

/** Sampling of sample / eval-gen / quickstart. */
export const samplingSpecs = [
  ...guidanceSpecs,
  {
    key: 'sampler',
    type: 'string',
    description: 'ODE solver: euler (one denoiser call per step) or heun (two)',
    default: 'euler',
    choices: ['euler', 'heun'],
  },
  {
    key: 'shift',
    type: 'number',
    description: "timestep shift s of t' = s t / (1 + (s - 1) t) (the paper: 0.3)",
    default: 0.3,
    min: 1e-6,
  },
] as const satisfies readonly OptionSpec[];

/** The evaluation networks. */
export const extractorSpecs = [
  {
    key: 'extractor',
    type: 'string',
    description:
      'feature network of rFID / FID / precision / recall: offline (nsfwjs InceptionV3, not the FID network) or a path to pytorch-fid weights pt_inception-2015-12-05-6726825d.pth',
    default: 'offline',
    valueName: 'offline|path',
  },
  {
    key: 'extractorSize',
    type: 'int',
    description: 'input side of the offline extractor (299 is its native size; smaller is faster)',
    default: 75,
    min: 75,
  },
  { key: 'batchSize', type: 'int', description: 'images per network call', default: 32, min: 1 },
] as const satisfies readonly OptionSpec[];

/** `--eps`: the perturbation ratios of the smoothness test. */
export const epsSpec = {
  key: 'eps',
  type: 'numbers',
  description: 'latent perturbation ratios (z + eps * std_c * noise)',
  default: [...SMOOTHNESS_EPS],
  min: 0,
} as const satisfies OptionSpec;

/** `--seed`. */
export const seedSpec = {
  key: 'seed',
  type: 'int',
  description: 'random seed',
  default: 0,
  min: 0,
} as const satisfies OptionSpec;
