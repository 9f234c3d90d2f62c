/**
 * The start the commands share: the images of the data options, the trained autoencoder of `--ae`, the
 * diffusion model of `--ldm` and the run context of the training commands, all from typed options.
 */
import type { Autoencoder } from '@ldmae/core';
import { type AutoencoderKind, loadAutoencoder } from '../autoencoders.js';
import type { CommandContext } from '../command.js';
import { writeResolvedConfig } from '../config.js';
import { type LoadDataOptions, type LoadedData, loadData } from '../data-source.js';
import { UsageError } from '../errors.js';
import type { OptionsOf, ResolvedOptions } from '../options.js';
import type { Reporter } from '../progress.js';
import { type LoadedLdm, loadLdm } from '../steps/sample.js';
import type { TrainRunContext } from '../steps/train-ae.js';
import type { dataSpecs } from './shared.js';

type DataOptions = OptionsOf<ReturnType<typeof dataSpecs>>;

/** The images of `--data`, `--split`, `--image-size` and `--skip-bad-images` (`overrides` win). */
export function loadDataOption(
  o: DataOptions,
  reporter: Pick<Reporter, 'info'>,
  overrides: Pick<LoadDataOptions, 'split' | 'imageSize'> = {},
): Promise<LoadedData> {
  return loadData(o.data, {
    split: o.split,
    imageSize: o.imageSize,
    skipBadImages: o.skipBadImages === true,
    onInfo: (m) => reporter.info(m),
    ...overrides,
  });
}

/**
 * The start of the commands that run a trained autoencoder on images: load `--ae` and the images,
 * write config.json into `--out` (as command `name`), then `work`; the autoencoder is disposed after.
 */
export async function withAutoencoder(
  name: string,
  o: DataOptions & { ae: string; out: string },
  ctx: CommandContext,
  work: (run: { ae: Autoencoder; kind: AutoencoderKind; data: LoadedData; outDir: string }) => Promise<void>,
): Promise<void> {
  const { ae, kind } = await loadAutoencoder(o.ae);
  try {
    const data = await loadDataOption(o, ctx.reporter);
    await writeResolvedConfig(o.out, name, o, { runtime: ctx.runtime });
    await work({ ae, kind, data, outDir: o.out });
  } finally {
    ae.dispose();
  }
}

/**
 * The start of sample and eval-gen: load `--ldm` (its step and weights reported), then `--ae` or the
 * autoencoder recorded with it (`aePath`), then `work`; both models are disposed after.
 */
export async function withDiffusionModel(
  o: { ldm: string; weights?: 'ema' | 'raw'; ae?: string },
  reporter: Reporter,
  work: (run: { ldm: LoadedLdm; ae: Autoencoder; aePath: string }) => Promise<void>,
): Promise<void> {
  const ldm = await loadLdm(o.ldm, o.weights);
  reporter.info(`--ldm: step ${ldm.step}, ${ldm.weights === 'ema' ? 'EMA' : 'raw (trained)'} weights`);
  if (ldm.warning) reporter.warn(ldm.warning);
  try {
    const aePath = o.ae ?? ldm.info.autoencoder;
    if (!aePath)
      throw new UsageError('--ae is required: the diffusion checkpoint does not record its autoencoder');
    const { ae } = await loadAutoencoder(aePath);
    try {
      await work({ ldm, ae, aePath });
    } finally {
      ae.dispose();
    }
  } finally {
    ldm.denoiser.dispose();
  }
}

/**
 * The run context of train-ae and train-ldm from their options; `options` are checked on `--resume`
 * and written to config.json (as command `name`) when training starts.
 */
export function trainRunContext(
  name: string,
  o: { out: string; resume?: boolean; overwrite?: boolean; allowChanges?: boolean },
  ctx: CommandContext,
  options: ResolvedOptions,
): TrainRunContext {
  return {
    outDir: o.out,
    resume: o.resume === true,
    overwrite: o.overwrite === true,
    reporter: ctx.reporter,
    signal: ctx.signal,
    argv: ctx.argv,
    options,
    allowChanges: o.allowChanges === true,
    onStart: () => writeResolvedConfig(o.out, name, options, { runtime: ctx.runtime }),
  };
}
