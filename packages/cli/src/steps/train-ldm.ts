/**
 * Training the class-conditional LightningDiT on a latent cache with rectified flow (@ldmae/diffusion's
 * DiffusionTrainer: AdamW, EMA, label dropout to the null class for guidance), checkpoints and resume:
 * the work behind `train-ldm` and the third phase of `quickstart`.
 */
import { join } from 'node:path';
import { type CheckpointPayload, loadCheckpoint, saveCheckpoint, type TrainResult } from '@ldmae/core';
import { LatentLoader, type LatentSource, openLatentCache } from '@ldmae/data';
import {
  DiffusionTrainer,
  FlowEulerScheduler,
  LatentDiffusion,
  type LdmCheckpointInfo,
  LIGHTNINGDIT_PRESETS,
  LightningDiT,
} from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';
import { loadAutoencoder } from '../autoencoders.js';
import { CliError, UsageError } from '../errors.js';
import { exists, jsonlWriter } from '../files.js';
import { yieldingLoader } from '../interrupt.js';
import { checkpointDir, finishTraining, prepareCheckpoint, trainingError } from './checkpoints.js';
import { cacheNormalization, readCacheInfo } from './encode.js';
import { logEvery, type TrainRunContext, warmupCosine } from './train-ae.js';

/** Settings of one diffusion training run. */
export interface TrainLdmSettings {
  /** A LightningDiT preset (block shape); depth / width / heads override it. */
  preset: string;
  depth?: number;
  width?: number;
  heads?: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** EMA decay of the weights used for sampling. */
  ema: number;
  /** Warm the EMA decay up (min(ema, (1 + n) / (10 + n))); default false. */
  emaWarmup?: boolean;
  /** Probability of training a label as the null class (needed for classifier-free guidance). */
  labelDropout: number;
  seed: number;
  checkpointEvery: number;
  /**
   * Wall-clock seconds the run may take (core's `maxSeconds`): the learning-rate schedule follows the
   * larger of the steps and the time used, and the run stops once the time is used; `steps` is then the
   * most steps it may take.
   */
  maxSeconds?: number;
}

/** Everything else a run needs. */
export interface TrainLdmContext extends TrainRunContext {
  cacheDir: string;
}

/** File names inside a train-ldm output folder. */
export const LDM_FILES = { log: 'train-log.jsonl', pipeline: 'pipeline' } as const;

/** A LightningDiT for latents of `shape` and `numClasses` classes, from the settings. */
export function buildDenoiser(
  s: TrainLdmSettings,
  shape: [number, number, number],
  numClasses: number,
): LightningDiT {
  if (!Object.hasOwn(LIGHTNINGDIT_PRESETS, s.preset)) {
    throw new UsageError(
      `--preset '${s.preset}' is not a LightningDiT preset`,
      `presets: ${Object.keys(LIGHTNINGDIT_PRESETS).join(', ')}`,
    );
  }
  try {
    return new LightningDiT(
      {
        preset: s.preset,
        inputSize: [shape[0], shape[1]],
        inChannels: shape[2],
        numClasses,
        classDropoutProb: numClasses > 1 ? s.labelDropout : 0,
        ...(s.depth ? { depth: s.depth } : {}),
        ...(s.width ? { hiddenSize: s.width } : {}),
        ...(s.heads ? { numHeads: s.heads } : {}),
        // RoPE on a one-token grid rotates by angle 0: it only costs time there.
        rope: shape[0] * shape[1] > 1,
      },
      { seed: s.seed },
    );
  } catch (e) {
    throw new UsageError(`cannot build the denoiser for ${shape.join('x')} latents: ${(e as Error).message}`);
  }
}

/**
 * The trainer of `denoiser`. Built inside tf.tidy: core's EMA makes its shadows from `p.clone()`
 * temporaries that it never releases (36 tensors for LightningDiT-Nano).
 */
export function newTrainer(
  denoiser: LightningDiT,
  s: TrainLdmSettings,
  numClasses: number,
): DiffusionTrainer {
  let trainer: DiffusionTrainer | undefined;
  tf.tidy(() => {
    trainer = new DiffusionTrainer({
      denoiser,
      lr: s.lr,
      ema: s.ema,
      emaWarmup: s.emaWarmup ?? false,
      seed: s.seed,
      labelDropout: numClasses > 1 ? s.labelDropout : 0,
    });
  });
  return trainer!;
}

/** Classes of a cache: its class names, else 1 + the largest label (labelled caches), else 1. */
export async function cacheClasses(
  source: LatentSource,
): Promise<{ numClasses: number; classes: string[] | null }> {
  const m = source.manifest;
  if (!m.labelled) return { numClasses: 1, classes: null };
  if (m.classes?.length) return { numClasses: m.classes.length, classes: [...m.classes] };
  let max = 0;
  for (let i = 0; i < source.length; i++) max = Math.max(max, (await source.read(i, false)).label ?? 0);
  return { numClasses: max + 1, classes: null };
}

/** Open a cache folder as a CliError-reporting operation. */
export async function openCache(dir: string): Promise<LatentSource> {
  try {
    return await openLatentCache(dir);
  } catch (e) {
    throw new CliError(`--latents: cannot open the latent cache '${dir}': ${(e as Error).message}`, {
      hint: 'build it with `ldmae encode --ae <autoencoder> --out <dir>`',
    });
  }
}

/**
 * Save the trained pipeline (the cache's autoencoder, its normalisation, the denoiser with its trained
 * and EMA weights, the paper's Euler sampler with shift 0.3, a model card) into `<out>/pipeline`, so
 * `LatentDiffusion.load`, `ldmae sample --ldm` and the playground take one folder. Skipped, with a
 * warning, when the cache does not record its autoencoder.
 */
async function writePipeline(
  denoiser: LightningDiT,
  trainer: DiffusionTrainer,
  info: LdmCheckpointInfo,
  result: TrainResult,
  ctx: TrainLdmContext,
): Promise<string | null> {
  if (!info.autoencoder) {
    ctx.reporter.warn(
      'no pipeline folder written: the latent cache does not record its autoencoder (encode it with `ldmae encode --ae`)',
    );
    return null;
  }
  if (!(await exists(info.autoencoder))) {
    ctx.reporter.warn(
      `no pipeline folder written: the latent cache's autoencoder '${info.autoencoder}' does not exist (any more); the checkpoint is in ${checkpointDir(ctx.outDir)}, and \`ldmae sample\` / \`eval-gen\` take it with --ae`,
    );
    return null;
  }
  const { ae } = await loadAutoencoder(info.autoencoder, "the latent cache's autoencoder");
  const path = join(ctx.outDir, LDM_FILES.pipeline);
  const pipe = new LatentDiffusion({
    autoencoder: ae,
    denoiser,
    normalization: info.normalization,
    scheduler: new FlowEulerScheduler({ shift: 0.3 }),
    prediction: 'velocity',
  });
  try {
    await pipe.save(path, {
      ...(trainer.ema ? { ema: trainer.ema } : {}),
      imageShape: info.imageShape,
      classes: info.classes,
      title: 'LDMAE latent diffusion pipeline',
      training: {
        command: ['ldmae', ...ctx.argv].join(' '),
        'latent cache': info.cache,
        autoencoder: info.autoencoder,
        steps: result.step,
        'final loss': result.losses.at(-1) ?? null,
        ema: trainer.ema ? { decay: trainer.ema.decay, updates: trainer.ema.updates } : null,
      },
    });
  } finally {
    ae.dispose();
    pipe.scheduler.dispose();
  }
  return path;
}

/** Train the denoiser; the caller owns the returned model (EMA weights copied in). */
export async function trainLdm(
  s: TrainLdmSettings,
  ctx: TrainLdmContext,
): Promise<{
  denoiser: LightningDiT;
  result: TrainResult;
  info: LdmCheckpointInfo;
  checkpointPath: string;
  logPath: string;
  /** The pipeline folder written at the end, or null when the cache does not record its autoencoder. */
  pipelinePath: string | null;
}> {
  const source = await openCache(ctx.cacheDir);
  const ckpt = checkpointDir(ctx.outDir);
  const logPath = join(ctx.outDir, LDM_FILES.log);
  let denoiser: LightningDiT | null = null;
  let trainer: DiffusionTrainer | null = null;
  let resume: CheckpointPayload | undefined;
  try {
    const m = source.manifest;
    const cacheInfo = await readCacheInfo(ctx.cacheDir);
    const normalization = cacheInfo?.normalization ?? (await cacheNormalization(ctx.cacheDir)).normalization;
    const { numClasses, classes } = await cacheClasses(source);
    // What the checkpoint records in config.user (read back by @ldmae/diffusion's
    // denoiserFromTrainingCheckpoint / latentDiffusionFromCheckpoint).
    const info: LdmCheckpointInfo = {
      cache: ctx.cacheDir,
      autoencoder: cacheInfo?.autoencoder ?? null,
      normalization,
      latentShape: m.latentShape,
      imageShape: m.imageShape,
      numClasses,
      classes,
    };
    if (info.autoencoder && !(await exists(info.autoencoder))) {
      // Said before training, not only after it.
      ctx.reporter.warn(
        `the latent cache's autoencoder '${info.autoencoder}' does not exist: training runs, but no pipeline folder will be written`,
      );
    }
    const resumeFrom = await prepareCheckpoint({ ...ctx, logFiles: [logPath], what: 'train-ldm' });
    await ctx.onStart?.();
    denoiser = buildDenoiser(s, m.latentShape, numClasses);
    trainer = newTrainer(denoiser, s, numClasses);
    if (resumeFrom) resume = await loadCheckpoint(resumeFrom);
    const loader = new LatentLoader(source, {
      batchSize: s.batchSize,
      seed: s.seed + 1,
      flipProbability: m.flip ? 0.5 : 0,
      normalization,
      dropLast: source.length >= s.batchSize,
    });
    const phase = ctx.reporter.phase(ctx.phase ?? 'train-ldm', s.steps, 'steps');
    let result: TrainResult;
    try {
      result = await trainer.train({
        data: yieldingLoader(loader),
        steps: s.steps,
        schedule: warmupCosine(s.steps, s.lr),
        checkpoint: { every: s.checkpointEvery, save: (p) => saveCheckpoint(ckpt, p) },
        ...(s.maxSeconds !== undefined ? { maxSeconds: s.maxSeconds } : {}),
        ...(resume ? { resume } : {}),
        log: jsonlWriter(logPath),
        logEvery: logEvery(s.steps),
        onProgress: phase.train,
        signal: ctx.signal,
        config: info,
      });
    } catch (e) {
      phase.finish({ status: 'failed' });
      throw trainingError(e, resumeFrom, /restoreCheckpointPayload|checkpoint|EMA|AdamW/i);
    }
    finishTraining(phase, result, 'train-ldm', s.steps, ckpt, ctx.argv);
    const pipelinePath = await writePipeline(denoiser, trainer, info, result, ctx);
    trainer.ema?.copyTo(denoiser);
    denoiser.eval();
    const out = denoiser;
    denoiser = null;
    return { denoiser: out, result, info, checkpointPath: ckpt, logPath, pipelinePath };
  } finally {
    trainer?.dispose();
    denoiser?.dispose();
    if (resume) tf.dispose(Object.values(resume.tensors));
    await source.close();
  }
}
