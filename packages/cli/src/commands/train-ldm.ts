/** `ldmae train-ldm`: train a class-conditional LightningDiT on a latent cache. */
import { LIGHTNINGDIT_PRESETS } from '@ldmae/diffusion';
import { defineCommand } from '../command.js';
import { trainLdm } from '../steps/train-ldm.js';
import { emaSpec, maxSeconds, OUT_ROOT, outSpec, resumeSpecs, seedSpec, trainingSpecs } from './shared.js';
import { trainRunContext } from './start.js';

export const trainLdmCommand = defineCommand({
  name: 'train-ldm',
  summary: 'train a class-conditional LightningDiT on a latent cache (rectified flow)',
  details: `Rectified flow (velocity prediction, logit-normal times), AdamW, EMA of the weights (used for
sampling), label dropout to a null class for classifier-free guidance. The latents are normalised per
channel with the statistics recorded in the cache's manifest.json. Learning rate: 5% warm-up, cosine to lr / 10
(with --max-minutes, over whichever of steps and time is further along; training stops when the time is used).
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
    ...trainingSpecs({ steps: 2000, batchSize: 64, lr: 1e-3 }, 'latents'),
    emaSpec('EMA decay of the sampling weights'),
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
    // The options hold the settings (preset, depth, width, heads, steps, batch size, lr, ema, ...).
    const r = await trainLdm(
      { ...o, emaWarmup: o.emaWarmup === true, ...maxSeconds(o) },
      { cacheDir: o.latents, ...trainRunContext('train-ldm', o, ctx, o) },
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
});
