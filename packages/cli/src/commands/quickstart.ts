/**
 * `ldmae quickstart`: the paper end to end on the embedded MNIST within a time budget: a tiny VMAE, the
 * latent cache, a tiny class-conditional LightningDiT, a grid of samples per class, reconstruction and
 * generation metrics with the offline networks, the latent-smoothness curve, and report.html.
 */
import { type CommandOptions, defineCommand } from '../command.js';
import type { OptionSpec } from '../options.js';
import { BUDGET_SHARES } from '../quickstart/plan.js';
import { runQuickstart } from '../quickstart/run.js';
import { allowChangesSpec, emaSpec, epsSpec, outSpec, samplingSpecs, seedSpec } from './shared.js';

const quickstartSpecs = [
  { ...outSpec('quickstart'), description: 'output folder' },
  {
    key: 'minutes',
    type: 'number',
    description: 'time budget in minutes (training steps follow from it)',
    default: 10,
    min: 0.05,
  },
  {
    key: 'stepsScale',
    type: 'number',
    description: 'multiply the budget-derived step caps (the trainings end at their cap or their clock)',
    default: 1,
    min: 0,
  },
  { key: 'aeSteps', type: 'int', description: 'VMAE training steps (default: from the budget)', min: 1 },
  {
    key: 'ldmSteps',
    type: 'int',
    description: 'diffusion training steps (default: from the budget)',
    min: 1,
  },
  {
    key: 'evalImages',
    type: 'int',
    description: 'images per metric (default: from the budget, 100..500)',
    min: 4,
  },
  {
    key: 'trainImages',
    type: 'int',
    description: 'train on this many digits (default all 9,000; stratified)',
    min: 16,
  },
  { key: 'aeBatchSize', type: 'int', description: 'VMAE batch size', default: 32, min: 1 },
  { key: 'aeLr', type: 'number', description: 'VMAE peak learning rate', default: 2e-3, min: 0 },
  {
    key: 'ldmPreset',
    type: 'string',
    description: 'LightningDiT block shape',
    default: 'LightningDiT-Nano/1',
    valueName: 'name',
  },
  {
    key: 'ldmWidth',
    type: 'int',
    description: 'LightningDiT hidden size (overrides the preset)',
    default: 128,
    min: 4,
  },
  {
    key: 'ldmHeads',
    type: 'int',
    description: 'LightningDiT heads (overrides the preset)',
    default: 4,
    min: 1,
  },
  { key: 'ldmDepth', type: 'int', description: 'LightningDiT blocks (overrides the preset)', min: 1 },
  { key: 'ldmBatchSize', type: 'int', description: 'diffusion batch size', default: 32, min: 1 },
  { key: 'ldmLr', type: 'number', description: 'diffusion peak learning rate', default: 3e-3, min: 0 },
  emaSpec('EMA decay of the diffusion weights used for sampling'),
  { key: 'perClass', type: 'int', description: 'samples per digit in samples.png', default: 10, min: 1 },
  ...samplingSpecs,
  {
    key: 'extractorSize',
    type: 'int',
    description: 'input side of the offline feature extractor (nsfwjs InceptionV3; 299 native)',
    default: 75,
    min: 75,
  },
  epsSpec,
  seedSpec,
  {
    key: 'resume',
    type: 'boolean',
    description: 'continue an interrupted run in --out (finished phases are kept)',
  },
  { key: 'overwrite', type: 'boolean', description: 'delete an earlier run in --out and start over' },
  allowChangesSpec,
] as const satisfies readonly OptionSpec[];

/** The options of `ldmae quickstart` (runQuickstart takes them). */
export type QuickstartOptions = CommandOptions<typeof quickstartSpecs>;

export const quickstartCommand = defineCommand({
  name: 'quickstart',
  summary:
    'the whole paper on the embedded MNIST in ~10 minutes: VMAE, latent diffusion, samples, metrics, report.html',
  details: `Phases: (1) train a tiny VMAE (f4d4-tiny at 28 px) on the 9,000 training digits; (2) encode them into
a latent cache; (3) train a tiny class-conditional LightningDiT on the cache (rectified flow); (4) sample a
grid with one row per digit; (5) evaluate reconstruction (PSNR, SSIM, LPIPS with the offline trunk, rFID)
and generation (FID, precision, recall against the test split) with the offline nsfwjs InceptionV3
extractor, and the latent-smoothness curve; (6) write report.html.
The budget (--minutes) runs on clocks: the VMAE trains until ${Math.round(BUDGET_SHARES.ae * 100)}% of it has passed, the diffusion
model until ${Math.round((BUDGET_SHARES.ae + BUDGET_SHARES.ldm) * 100)}%, or longer when the sample grid and the evaluation at 500 images per metric (or
--eval-images) need less than the rest at the extractor's and sampler's measured speeds. Each schedule
follows whichever of steps and time is further along; a few timed steps cap the step counts, and the
evaluation images are fitted to what is left (100 to 500). --ae-steps and --ldm-steps set the steps
instead (no clock), --eval-images the images.
Ctrl-C keeps the last checkpoint; --resume continues where the run stopped (finished phases are kept).
Outputs in --out: report.html, samples.png, reconstructions.png, metrics.json, smoothness.json,
config.json, vmae/, latents/, ldm/.`,
  specs: quickstartSpecs,
  run: runQuickstart,
});
