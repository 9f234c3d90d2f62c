/** `ldmae train-ldm`: train a class-conditional LightningDiT on a latent cache. */
import { LIGHTNINGDIT_PRESETS } from '@ldmae/diffusion';
import type { CommandDefinition } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { trainLdm } from '../steps/train-ldm.js';
import { OUT_ROOT, outSpec, resumeSpecs, seedSpec } from './shared.js';

export const trainLdmCommand: CommandDefinition = {
  name: 'train-ldm',
  summary: 'train a class-conditional LightningDiT on a latent cache (rectified flow)',
  details: `Rectified flow (velocity prediction, logit-normal times), AdamW, EMA of the weights (used for
sampling), label dropout to a null class for classifier-free guidance. The latents are normalised per
channel with the statistics recorded in the cache's manifest.json. Learning rate: 5% warm-up, cosine to lr / 10.
Writes into --out: checkpoint/ (denoiser, EMA, optimiser, step, RNG and what it was trained on; every
--checkpoint-every steps and on Ctrl-C), train-log.jsonl and config.json.
Presets: ${Object.keys(LIGHTNINGDIT_PRESETS).join(', ')}.

Example: ldmae train-ldm --latents runs/latents --steps 2000 --out runs/ldm`,
  specs: [
    {
      key: 'latents',
      type: 'path',
      description: 'latent cache folder from `ldmae encode`',
      default: `${OUT_ROOT}/latents`,
      valueName: 'dir',
    },
    {
      key: 'preset',
      type: 'string',
      description: 'LightningDiT block shape',
      default: 'LightningDiT-Nano/1',
      valueName: 'name',
    },
    { key: 'depth', type: 'int', description: 'blocks (overrides the preset)', min: 1 },
    {
      key: 'width',
      type: 'int',
      description: 'hidden size (overrides the preset; a multiple of 4 and of heads)',
      min: 4,
    },
    { key: 'heads', type: 'int', description: 'attention heads (overrides the preset)', min: 1 },
    { key: 'steps', type: 'int', description: 'optimiser steps', default: 2000, min: 1 },
    { key: 'batchSize', type: 'int', description: 'latents per step', default: 64, min: 1 },
    { key: 'lr', type: 'number', description: 'peak learning rate', default: 1e-3, min: 0 },
    {
      key: 'ema',
      type: 'number',
      description: 'EMA decay of the sampling weights',
      default: 0.995,
      min: 0,
      max: 1,
    },
    {
      key: 'emaWarmup',
      type: 'boolean',
      description:
        'warm the EMA decay up (min(ema, (1 + n) / (10 + n)) at step n), so a short run samples well with the EMA weights',
    },
    {
      key: 'labelDropout',
      type: 'number',
      description: 'probability of the null class in training (for guidance)',
      default: 0.1,
      min: 0,
      max: 0.99,
    },
    seedSpec,
    ...resumeSpecs,
    outSpec('train-ldm'),
  ],
  async run(o, ctx) {
    const outDir = o.out as string;
    const r = await trainLdm(
      {
        preset: o.preset as string,
        depth: o.depth as number | undefined,
        width: o.width as number | undefined,
        heads: o.heads as number | undefined,
        steps: o.steps as number,
        batchSize: o.batchSize as number,
        lr: o.lr as number,
        ema: o.ema as number,
        emaWarmup: o.emaWarmup === true,
        labelDropout: o.labelDropout as number,
        seed: o.seed as number,
        checkpointEvery: o.checkpointEvery as number,
      },
      {
        cacheDir: o.latents as string,
        outDir,
        resume: o.resume === true,
        overwrite: o.overwrite === true,
        reporter: ctx.reporter,
        signal: ctx.signal,
        argv: ctx.argv,
        options: o,
        allowChanges: o.allowChanges === true,
        onStart: () => writeResolvedConfig(outDir, 'train-ldm', o, { runtime: ctx.runtime }),
      },
    );
    r.denoiser.dispose();
    ctx.reporter.result(
      {
        checkpoint: r.checkpointPath,
        log: r.logPath,
        steps: r.result.step,
        loss: r.result.losses.at(-1) ?? null,
        classes: r.info.numClasses,
        pipeline: r.pipelinePath,
      },
      `trained the denoiser for ${r.result.step} steps (last loss ${r.result.losses.at(-1)?.toFixed(4) ?? '-'})\n` +
        `checkpoint: ${r.checkpointPath}\n` +
        (r.pipelinePath
          ? `pipeline: ${r.pipelinePath} (LatentDiffusion.load)\nnext: ldmae sample --ldm ${r.pipelinePath}`
          : `next: ldmae sample --ldm ${r.checkpointPath}`),
    );
  },
};
