/** `ldmae train-ae`: train a VMAE or a baseline autoencoder on a data source. */
import { join } from 'node:path';
import { AUTOENCODER_KL_PRESET_ALIASES, type AutoencoderKLPresetAlias } from '@ldmae/baselines';
import { checkModelChoice, DEFAULT_PRESET } from '../autoencoders.js';
import { defineCommand } from '../command.js';
import { writeReconstructionGrid } from '../steps/images.js';
import { AE_FILES, trainAutoencoder } from '../steps/train-ae.js';
import {
  dataSpecs,
  maxSeconds,
  modelSpecs,
  outSpec,
  resumeSpecs,
  seedSpec,
  trainingSpecs,
} from './shared.js';
import { loadDataOption, trainRunContext } from './start.js';

export const trainAeCommand = defineCommand({
  name: 'train-ae',
  summary: 'train an autoencoder (vmae, ae, dae, vae, sd-vae) on a data source',
  details: `Writes into --out: autoencoder.safetensors (the model, for --ae of other commands),
checkpoint/ (model, optimiser, step and RNG, saved every --checkpoint-every steps and on Ctrl-C),
train-log.jsonl (loss per logged step), reconstructions.png (test images, originals above their
reconstructions) and config.json (the resolved options).
The VMAE follows the paper's stage-1 recipe (mask ratio 0.25, visible weight 0.75, unit-variance KL
1e-6), without the perceptual term unless --lpips-weight is set (the offline trunk is not the paper's
VGG16 and costs time); baselines use their objectives from @ldmae/baselines (the SD-VAE's
discriminator included, its perceptual term again only with --lpips-weight).
Learning rate: linear warm-up over 5% of the steps, then cosine down to lr / 10. With --max-minutes
the schedule runs on whichever of steps and time is further along, and training stops when the time is
used (a resumed run has the time its checkpoint had left).

Example: ldmae train-ae --model vmae --steps 500 --out runs/vmae`,
  specs: [
    ...modelSpecs,
    ...dataSpecs('train'),
    ...trainingSpecs({ steps: 1000, batchSize: 32, lr: 2e-3 }, 'images'),
    {
      key: 'maskRatio',
      type: 'number',
      description: 'vmae: fraction of patches masked (recipe: 0.25)',
      min: 0,
      max: 0.95,
    },
    {
      key: 'klWeight',
      type: 'number',
      description: "weight of the KL term (default: each kind's own)",
      min: 0,
    },
    {
      key: 'lpipsWeight',
      type: 'number',
      description:
        'vmae / sd-vae: weight of the perceptual term with the offline LPIPS (nsfwjs InceptionV3 trunk; the recipe: 0.5), 0 = off',
      default: 0,
      min: 0,
    },
    seedSpec,
    ...resumeSpecs,
    outSpec('train-ae'),
  ],
  async run(o, ctx) {
    const kind = o.model;
    let preset = o.preset ?? DEFAULT_PRESET[kind];
    if (kind !== 'vmae' && Object.hasOwn(AUTOENCODER_KL_PRESET_ALIASES, preset)) {
      const current = AUTOENCODER_KL_PRESET_ALIASES[preset as AutoencoderKLPresetAlias];
      ctx.reporter.warn(`--preset '${preset}' is the former name of '${current}'; use '${current}'`);
      preset = current;
    }
    checkModelChoice(kind, preset);
    const data = await loadDataOption(o, ctx.reporter);
    const outDir = o.out;
    const r = await trainAutoencoder(
      { ...o, kind, preset, ...maxSeconds(o) },
      { data, ...trainRunContext('train-ae', o, ctx, { ...o, preset }) },
    );
    try {
      const test = await loadDataOption(o, ctx.reporter, { split: 'test', imageSize: data.imageSize }).catch(
        () => data,
      );
      // Up to 16 test images, 8 a row: a small folder shows what it has (full rows only).
      const avail = Math.min(16, test.dataset.length);
      const n = avail > 8 ? avail - (avail % 8) : avail;
      await writeReconstructionGrid(r.ae, test, join(outDir, 'reconstructions.png'), n, Math.min(8, n));
      ctx.reporter.result(
        {
          model: r.modelPath,
          checkpoint: r.checkpointPath,
          log: r.logPath,
          reconstructions: join(outDir, 'reconstructions.png'),
          steps: r.result.step,
          loss: r.result.losses.at(-1) ?? null,
          seconds: r.result.elapsedSeconds,
        },
        `trained ${kind} '${preset}' for ${r.result.step} steps (last loss ${r.result.losses.at(-1)?.toFixed(4) ?? '-'})\n` +
          `model:           ${r.modelPath}\nreconstructions: ${join(outDir, 'reconstructions.png')}\nlog:             ${join(outDir, AE_FILES.log)}`,
      );
    } finally {
      r.ae.dispose();
    }
  },
});
