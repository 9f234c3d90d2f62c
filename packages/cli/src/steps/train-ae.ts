/**
 * Training an autoencoder (the VMAE with its recipe, or a baseline with its objective) from a data
 * source, with checkpoints every few steps, a JSONL loss log and resume: the work behind `train-ae` and
 * the first phase of `quickstart`.
 */
import { join } from 'node:path';
import {
  type AutoencoderKL,
  type BaselineKind,
  baselineCheckpointConfig,
  createObjective,
  trainBaseline,
} from '@ldmae/baselines';
import {
  type Autoencoder,
  type CheckpointPayload,
  loadCheckpoint,
  saveAutoencoder,
  saveCheckpoint,
  type TrainResult,
  warmupCosineLr,
} from '@ldmae/core';
import { DataLoader } from '@ldmae/data';
import { loadOfflineLpips } from '@ldmae/losses';
import { trainVMAE, type VMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { type AutoencoderKind, checkModelFits, createAutoencoder } from '../autoencoders.js';
import type { LoadedData } from '../data-source.js';
import { jsonlWriter } from '../files.js';
import { yieldingLoader, yieldToEventLoop } from '../interrupt.js';
import {
  checkpointDir,
  finishTraining,
  type PrepareCheckpointOptions,
  prepareCheckpoint,
  trainingError,
} from './checkpoints.js';
import { checkOfflineNetworks, loadLpips } from './evaluate.js';

/** Settings of one autoencoder training run. */
export interface TrainAeSettings {
  kind: AutoencoderKind;
  preset: string;
  steps: number;
  batchSize: number;
  /** Peak learning rate (linear warm-up, then cosine down to lr / 10). */
  lr: number;
  seed: number;
  /** Save a checkpoint every this many steps (and when the run stops). */
  checkpointEvery: number;
  /**
   * Wall-clock seconds the run may take (core's `maxSeconds`): the learning-rate schedule follows the
   * larger of the steps and the time used, and the run stops once the time is used; `steps` is then the
   * most steps it may take.
   */
  maxSeconds?: number;
  /** VMAE: fraction of tokens masked (the recipe's 0.25). */
  maskRatio?: number;
  /** VMAE / VAE / SD-VAE: weight of the KL term (each kind's own default when unset). */
  klWeight?: number;
  /**
   * Weight of the perceptual term with the offline LPIPS (nsfwjs InceptionV3 trunk, uniform lin
   * weights): the VMAE's lambda_P, the SD-VAE's perceptual weight. 0 (default) leaves it out.
   */
  lpipsWeight?: number;
}

/** Everything a training run (train-ae, train-ldm) needs besides its settings and its inputs. */
export interface TrainRunContext
  extends Pick<
    PrepareCheckpointOptions,
    'outDir' | 'resume' | 'overwrite' | 'argv' | 'reporter' | 'options' | 'allowChanges'
  > {
  signal: AbortSignal;
  /** Name of the progress phase (default the command's name). */
  phase?: string;
  /** Called once the output folder passed its checks, before anything is trained (writes config.json). */
  onStart?: () => Promise<unknown>;
}

/** Everything else a run needs. */
export interface TrainAeContext extends TrainRunContext {
  data: LoadedData;
}

/** What a run leaves behind. */
export interface TrainAeOutput {
  ae: Autoencoder;
  result: TrainResult;
  /** The trained model (loadable by every command that takes --ae). */
  modelPath: string;
  checkpointPath: string;
  logPath: string;
}

/** File names inside a train-ae output folder. */
export const AE_FILES = { model: 'autoencoder.safetensors', log: 'train-log.jsonl' } as const;

/** Train an autoencoder as `settings` says; the caller owns (and disposes) the returned model. */
export async function trainAutoencoder(s: TrainAeSettings, ctx: TrainAeContext): Promise<TrainAeOutput> {
  const { data, outDir, reporter } = ctx;
  // Options are checked before anything in outDir changes (--overwrite deletes the old checkpoint).
  checkModelFits(s.kind, s.preset, data.imageSize);
  if (s.lpipsWeight) checkOfflineNetworks('--lpips-weight (the perceptual term)');
  const ckpt = checkpointDir(outDir);
  const logPath = join(outDir, AE_FILES.log);
  const resumeFrom = await prepareCheckpoint({ ...ctx, logFiles: [logPath], what: 'train-ae' });
  await ctx.onStart?.();
  const ae = createAutoencoder(s.kind, s.preset, data.imageSize, s.seed);
  const log = jsonlWriter(logPath);
  const phase = reporter.phase(ctx.phase ?? 'train-ae', s.steps, 'steps');
  let result: TrainResult;
  try {
    if (s.kind === 'vmae') result = await trainVmae(ae as VMAE, s, ctx, ckpt, resumeFrom, log, phase.train);
    else result = await trainBaselineAe(ae as AutoencoderKL, s, ctx, ckpt, resumeFrom, log, phase.train);
  } catch (e) {
    phase.finish({ status: 'failed' });
    ae.dispose();
    throw trainingError(e, resumeFrom, /restoreCheckpointPayload|checkpoint/i);
  }
  try {
    finishTraining(phase, result, 'train-ae', s.steps, ckpt, ctx.argv);
  } catch (e) {
    ae.dispose();
    throw e;
  }
  (ae as unknown as { eval?: () => void }).eval?.();
  const modelPath = join(outDir, AE_FILES.model);
  await saveAutoencoder(modelPath, ae);
  return { ae, result, modelPath, checkpointPath: ckpt, logPath };
}

function loaderFor(data: LoadedData, s: TrainAeSettings, startStep: number): DataLoader {
  return new DataLoader(data.dataset, {
    batchSize: s.batchSize,
    seed: s.seed + 1,
    transform: data.transform,
    dropLast: data.dataset.length >= s.batchSize,
    startStep,
  });
}

/** One kind's training loop: `model` as `s` says, checkpoints in `ckpt`, resuming from `resumeFrom`. */
type TrainLoop<M> = (
  model: M,
  s: TrainAeSettings,
  ctx: TrainAeContext,
  ckpt: string,
  resumeFrom: string | null,
  log: (l: Record<string, unknown>) => void,
  onProgress: Parameters<typeof trainVMAE>[0]['onProgress'],
) => Promise<TrainResult>;

const trainVmae: TrainLoop<VMAE> = async (model, s, ctx, ckpt, resumeFrom, log, onProgress) => {
  const lpips = s.lpipsWeight ? await loadLpips(ctx.data.imageSize) : null;
  const loader = loaderFor(ctx.data, s, 0);
  try {
    return await trainVMAE({
      model,
      data: yieldingLoader(loader),
      steps: s.steps,
      batchSize: s.batchSize,
      lr: s.lr,
      minLr: s.lr / 10,
      warmupSteps: Math.min(Math.round(0.05 * s.steps), Math.max(0, s.steps - 1)),
      seed: s.seed,
      ...(s.maskRatio !== undefined ? { maskRatio: s.maskRatio } : {}),
      ...(s.klWeight !== undefined ? { klWeight: s.klWeight } : {}),
      ...(lpips ? { lpips, lpipsWeight: s.lpipsWeight } : {}),
      checkpoint: { every: s.checkpointEvery, path: ckpt },
      ...(s.maxSeconds !== undefined ? { maxSeconds: s.maxSeconds } : {}),
      ...(resumeFrom ? { resume: resumeFrom } : {}),
      log,
      logEvery: logEvery(s.steps),
      onProgress,
      signal: ctx.signal,
    });
  } finally {
    lpips?.dispose();
    await loader.close();
  }
};

const trainBaselineAe: TrainLoop<AutoencoderKL> = async (ae, s, ctx, ckpt, resumeFrom, log, onProgress) => {
  const kind = s.kind as BaselineKind;
  let resume: CheckpointPayload | undefined;
  if (resumeFrom) resume = await loadCheckpoint(resumeFrom);
  const start = resume ? Number(resume.metadata.step) || 0 : 0;
  // Only the SD-VAE objective has a perceptual term; the LPIPS module upsamples small images itself.
  let lpips: Awaited<ReturnType<typeof loadOfflineLpips>> | null = null;
  if (kind === 'sd-vae' && s.lpipsWeight) lpips = await loadOfflineLpips();
  const objective = createObjective(kind, ae, {
    seed: s.seed,
    ...(s.klWeight !== undefined ? { klWeight: s.klWeight } : {}),
    ...(kind === 'sd-vae' ? { perceptualWeight: s.lpipsWeight ?? 0, lpips } : {}),
  });
  const loader = loaderFor(ctx.data, s, start);
  try {
    const r = await trainBaseline({
      objective,
      data: async () => {
        await yieldToEventLoop();
        return loader.next();
      },
      steps: s.steps,
      lr: s.lr,
      schedule: warmupCosine(s.steps, s.lr),
      checkpoint: { every: s.checkpointEvery, save: (p) => saveCheckpoint(ckpt, p) },
      ...(s.maxSeconds !== undefined ? { maxSeconds: s.maxSeconds } : {}),
      resume,
      log,
      logEvery: logEvery(s.steps),
      onProgress,
      signal: ctx.signal,
      config: { ...baselineCheckpointConfig(ae, kind), training: true },
    });
    r.optimizer.dispose();
    return r;
  } finally {
    if (resume) tf.dispose(Object.values(resume.tensors));
    objective.dispose();
    lpips?.dispose();
    await loader.close();
  }
};

/** The learning rate of the training commands: 5% linear warm-up, then cosine down to lr / 10. */
export function warmupCosine(steps: number, lr: number): ReturnType<typeof warmupCosineLr> | undefined {
  if (steps <= 0) return undefined;
  return warmupCosineLr({
    baseLr: lr,
    minLr: lr / 10,
    warmupSteps: Math.min(Math.round(0.05 * steps), steps - 1),
    totalSteps: steps,
  });
}

/** About 200 log lines per run: enough for a loss curve, small enough to read back. */
export function logEvery(steps: number): number {
  return Math.max(1, Math.floor(steps / 200));
}
