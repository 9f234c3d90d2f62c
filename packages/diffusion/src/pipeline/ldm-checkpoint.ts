/**
 * Trained latent diffusion models from checkpoints (browser-safe): what a {@link DiffusionTrainer}
 * checkpoint of an LDM carries ({@link LdmCheckpointInfo}, the `user` part of its config as
 * `ldmae train-ldm` writes it), and the denoiser and the {@link LatentDiffusion} pipeline rebuilt from
 * the checkpoint's bytes or from a decoded payload, the EMA weights preferred.
 *
 * Only the weights kept are ever uploaded to tfjs when the payload holds host tensors (bytes, or
 * core's `decodeCheckpointFolderHost` / `loadCheckpointHost`): the live weights beside the EMA and
 * the optimiser moments stay on the host and are garbage collected with it.
 */
import {
  type Autoencoder,
  atDoor,
  type CheckpointFolderFiles,
  type CheckpointPayload,
  type CheckpointReadOptions,
  decodeCheckpointFolderHost,
  decodeCheckpointHost,
  type FolderSource,
  type HostTensorDict,
  type LatentNormalization,
  readCheckpoint,
} from '@ldmae/core';
import { FlowEulerScheduler, FlowHeunScheduler } from '../flow/solvers.js';

import type { DenoiserConfig, DiT, LightningDiT } from '../models/dit.js';
import { buildTrainedDenoiser, predictionOfConfig } from '../models/kind.js';

import type { PredictionType, Scheduler } from '../schedulers/scheduler.js';
import { LatentDiffusion } from './latent-diffusion.js';
import { isShape3, show } from './pipeline-folder.js';

/**
 * What a trained LDM checkpoint records about the data its denoiser learned: the `user` part of the
 * checkpoint's `metadata.config` JSON (given to {@link DiffusionTrainer.train} as `config`), beside
 * the `denoiser`, `objective` and `trainer` parts the trainer writes itself. `ldmae train-ldm` writes
 * exactly these fields; the JSON is unchanged from its earlier `LdmInfo`, so its checkpoints load.
 */
export interface LdmCheckpointInfo {
  /** The latent cache it trained on (a path as the trainer recorded it), or null when unknown. */
  cache: string | null;
  /** The autoencoder that made the cache (a path as recorded by `ldmae encode`), or null when unknown. */
  autoencoder: string | null;
  /** The per-channel latent normalisation the denoiser was trained in: (z - shift) * scale. */
  normalization: LatentNormalization;
  /** Latent shape [h, w, c] of one image (the denoiser's input). */
  latentShape: [number, number, number];
  /** Image shape [H, W, 3] the autoencoder encoded. */
  imageShape: [number, number, number];
  /** Number of real classes (1 for an unconditional model). */
  numClasses: number;
  /** Class names, one per class, or null when the data had none. */
  classes: string[] | null;
}

/** Host tensors (e.g. from core's `decodeCheckpointFolderHost`) and the checkpoint's metadata. */
export interface HostCheckpointPayload {
  /** The checkpoint's tensors on the host (`model.*`, `ema.*`, optimiser moments, ...). */
  tensors: HostTensorDict;
  /** The checkpoint's string metadata (`step`, `config`, ...). */
  metadata: Record<string, string>;
}

/**
 * Where a trained LDM comes from: the bytes of a checkpoint file (a `.safetensors` checkpoint), the
 * two files of a checkpoint folder (`{ meta, weights }`, see core's `decodeCheckpointFolder`), a
 * payload of host tensors (preferred: only the weights kept are uploaded), or a payload of tf tensors
 * (they stay the caller's).
 */
export type LdmCheckpointSource =
  | Uint8Array
  | CheckpointFolderFiles
  | HostCheckpointPayload
  | CheckpointPayload;

/** Options of {@link parseLdmCheckpointInfo}. */
export interface LdmCheckpointInfoOptions {
  /**
   * Values for fields the checkpoint does not record (e.g. the normalisation of the latent cache's
   * `cache-info.json`, the image shape of the autoencoder), for checkpoints of other trainers. Recorded
   * values always win. Default none: every required field must be recorded.
   */
  defaults?: Partial<LdmCheckpointInfo>;
}

/** Options of {@link denoiserFromTrainingCheckpoint}. */
export interface TrainedDenoiserOptions extends LdmCheckpointInfoOptions, CheckpointReadOptions {
  /** 'ema' (default when the checkpoint has EMA weights, the ones to sample with) or 'model'. */
  weights?: 'ema' | 'model';
}

/** A denoiser rebuilt from a training checkpoint, and what it was trained on. */
export interface TrainedDenoiser {
  /** The denoiser in eval mode; the caller owns (disposes) it. */
  denoiser: DiT | LightningDiT;
  /** What the checkpoint records about its data (with any defaults filled in). */
  info: LdmCheckpointInfo;
  /** Training step of the checkpoint (metadata `step`, 0 when absent). */
  step: number;
  /** Which weights were loaded. */
  weights: 'ema' | 'model';
  /** Fields of `info` taken from {@link LdmCheckpointInfoOptions.defaults} (empty when all were recorded). */
  defaulted: (keyof LdmCheckpointInfo)[];
  /** What the denoiser predicts (from the checkpoint's objective; 'velocity' when none is recorded). */
  prediction: PredictionType;
}

/** How {@link latentDiffusionFromInfo} samples. */
export interface LdmSamplingOptions {
  /**
   * ODE solver on the rectified-flow ODE: 'euler' (default, the reference's) or 'heun'. Ignored when
   * `scheduler` is given.
   */
  sampler?: 'euler' | 'heun';
  /** Timestep shift of the flow solver (default 0.3, the paper's; 1 = none). */
  shift?: number;
  /** A scheduler of your own instead (its prediction must match the denoiser's). */
  scheduler?: Scheduler;
  /**
   * What the denoiser predicts (default 'velocity', a rectified-flow model; a checkpoint's
   * {@link TrainedDenoiser.prediction}). Only flow solvers are built here: an 'epsilon' denoiser needs
   * `scheduler`.
   */
  prediction?: PredictionType;
}

/** Options of {@link latentDiffusionFromCheckpoint}. */
export interface LatentDiffusionFromCheckpointOptions
  extends TrainedDenoiserOptions,
    Omit<LdmSamplingOptions, 'prediction'> {}

/** A sampling pipeline rebuilt from a training checkpoint. */
export interface LoadedLatentDiffusion extends TrainedDenoiser {
  /** Autoencoder (the caller's) + normalisation + denoiser + scheduler. */
  pipeline: LatentDiffusion;
  /** Release the denoiser and the scheduler (not the autoencoder, which stays the caller's). */
  dispose(): void;
}

const EXPECTED_USER =
  'expected the LdmCheckpointInfo { normalization, latentShape, imageShape, numClasses, classes } that `ldmae train-ldm` records (DiffusionTrainer.train({ config }))';
const INFO_KEYS: (keyof LdmCheckpointInfo)[] = [
  'cache',
  'autoencoder',
  'normalization',
  'latentShape',
  'imageShape',
  'numClasses',
  'classes',
];

interface ParsedConfig {
  info: LdmCheckpointInfo;
  defaulted: (keyof LdmCheckpointInfo)[];
  denoiser: DenoiserConfig;
  prediction: PredictionType;
}

function parseConfig(
  metadata: Record<string, string>,
  defaults: Partial<LdmCheckpointInfo> | undefined,
): ParsedConfig {
  if (typeof metadata !== 'object' || metadata === null)
    throw new TypeError(`metadata must be the checkpoint's record of strings`);
  const raw = metadata.config;
  if (typeof raw !== 'string')
    throw new Error(
      `the checkpoint has no metadata.config (expected the JSON config a DiffusionTrainer checkpoint carries)`,
    );
  let cfg: unknown;
  try {
    cfg = JSON.parse(raw);
  } catch (e) {
    throw new Error(`metadata.config is not valid JSON (${(e as Error).message})`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw new Error(`metadata.config must be a JSON object, got ${show(cfg)}`);
  const c = cfg as { denoiser?: unknown; objective?: unknown; user?: unknown };
  const den = c.denoiser as DenoiserConfig | undefined;
  if (typeof den !== 'object' || den === null || (den.type !== 'lightningdit' && den.type !== 'dit'))
    throw new Error(
      `metadata.config.denoiser must be a DiT / LightningDiT config ({ type: 'lightningdit' | 'dit', ... }, as DiffusionTrainer writes), got ${show(den)}`,
    );
  const prediction = predictionOfConfig(c as Record<string, unknown>);
  if (defaults !== undefined && (typeof defaults !== 'object' || defaults === null))
    throw new TypeError(`defaults must be an object of LdmCheckpointInfo fields`);
  let user = c.user as Record<string, unknown> | undefined;
  if (user === undefined || user === null) {
    if (!defaults)
      throw new Error(
        `metadata.config has no 'user' part (not written by \`ldmae train-ldm\`): ${EXPECTED_USER}`,
      );
    user = {};
  }
  if (typeof user !== 'object' || Array.isArray(user))
    throw new Error(`metadata.config.user must be an object: ${EXPECTED_USER}`);
  const defaulted: (keyof LdmCheckpointInfo)[] = [];
  const get = (k: keyof LdmCheckpointInfo): unknown => {
    if (user[k] !== undefined) return user[k];
    if (defaults?.[k] !== undefined) {
      defaulted.push(k);
      return defaults[k];
    }
    return undefined;
  };
  const field = (k: string) => `metadata.config.user.${k}`;
  const latentShape = get('latentShape');
  const imageShape = get('imageShape');
  const normalization = get('normalization');
  const numClasses = get('numClasses');
  const classes = get('classes');
  const cache = get('cache');
  const autoencoder = get('autoencoder');
  if (!isShape3(latentShape))
    throw new Error(
      `${field('latentShape')} must be the latent shape [h, w, c] (3 positive integers), got ${show(latentShape)}`,
    );
  if (!isShape3(imageShape))
    throw new Error(
      `${field('imageShape')} must be the image shape [H, W, 3] (3 positive integers), got ${show(imageShape)}`,
    );
  const ch = latentShape[2];
  const n = normalization as LatentNormalization | undefined;
  const okNums = (a: unknown) => Array.isArray(a) && a.length === ch && a.every(Number.isFinite);
  if (typeof n !== 'object' || n === null || !okNums(n.shift) || !okNums(n.scale))
    throw new Error(
      `${field('normalization')} must be { shift, scale } with ${ch} finite numbers each (one per latent channel), got ${show(n)}`,
    );
  if (!Number.isInteger(numClasses) || (numClasses as number) < 1)
    throw new Error(`${field('numClasses')} must be an integer >= 1, got ${show(numClasses)}`);
  const k = numClasses as number;
  if (
    classes != null &&
    !(Array.isArray(classes) && classes.length === k && classes.every((s) => typeof s === 'string'))
  )
    throw new Error(`${field('classes')} must be null or ${k} class names (strings), got ${show(classes)}`);
  if (cache != null && typeof cache !== 'string')
    throw new Error(`${field('cache')} must be a path (string) or null, got ${show(cache)}`);
  if (autoencoder != null && typeof autoencoder !== 'string')
    throw new Error(`${field('autoencoder')} must be a path (string) or null, got ${show(autoencoder)}`);
  const [dh, dw] = Array.isArray(den.inputSize) ? den.inputSize : [den.inputSize, den.inputSize];
  if (dh !== latentShape[0] || dw !== latentShape[1] || den.inChannels !== ch)
    throw new Error(
      `${field('latentShape')} ${latentShape.join('x')} does not match the denoiser config's ${dh}x${dw}x${den.inChannels}`,
    );
  if (den.numClasses !== k)
    throw new Error(`${field('numClasses')} ${k} does not match the denoiser config's ${den.numClasses}`);
  const info: LdmCheckpointInfo = {
    cache: (cache as string | null | undefined) ?? null,
    autoencoder: (autoencoder as string | null | undefined) ?? null,
    normalization: { shift: [...n.shift], scale: [...n.scale] },
    latentShape: [...latentShape],
    imageShape: [...imageShape],
    numClasses: k,
    classes: classes == null ? null : [...(classes as string[])],
  };
  defaulted.sort((a, b) => INFO_KEYS.indexOf(a) - INFO_KEYS.indexOf(b));
  return { info, defaulted, denoiser: den, prediction };
}

/**
 * Parse and validate the {@link LdmCheckpointInfo} of a training checkpoint's metadata (from a decoded
 * payload, or the `metadata` copy in a checkpoint folder's `meta.json`, read without the weights). The
 * config must be JSON with a DiT / LightningDiT `denoiser` part and a `user` part whose shapes,
 * normalisation and classes agree with each other and with the denoiser. Errors name the field and
 * what was expected.
 */
export function parseLdmCheckpointInfo(
  metadata: Record<string, string>,
  opts: LdmCheckpointInfoOptions = {},
): LdmCheckpointInfo {
  return atDoor('parseLdmCheckpointInfo', () => parseConfig(metadata, opts?.defaults).info);
}

/** Host tensors and metadata of a source; tf payloads come back as they are. */
function decodeSource(
  source: LdmCheckpointSource,
  opts: CheckpointReadOptions,
): HostCheckpointPayload | CheckpointPayload {
  if (source instanceof Uint8Array) {
    try {
      return decodeCheckpointHost(source, opts);
    } catch (e) {
      throw new Error(`the checkpoint bytes are not a valid checkpoint: ${(e as Error).message}`);
    }
  }
  if (isFolderFiles(source)) return decodeCheckpointFolderHost(source, opts);
  const p = source as Partial<HostCheckpointPayload> | null;
  if (typeof p?.tensors !== 'object' || p.tensors === null || typeof p.metadata !== 'object' || !p.metadata)
    throw new TypeError(
      `source must be checkpoint bytes, { meta, weights } of a checkpoint folder, or a decoded payload { tensors, metadata }`,
    );
  return source as HostCheckpointPayload | CheckpointPayload;
}

/** The two files of a checkpoint folder, `{ meta, weights }`. */
function isFolderFiles(source: unknown): source is CheckpointFolderFiles {
  return typeof source === 'object' && source !== null && 'weights' in source && 'meta' in source;
}

function trainedDenoiser(
  source: LdmCheckpointSource,
  opts: TrainedDenoiserOptions,
  check?: (info: LdmCheckpointInfo, prediction: PredictionType) => void,
): TrainedDenoiser {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null))
    throw new TypeError(`options must be an object`);
  const payload = decodeSource(source, opts);
  const parsed = parseConfig(payload.metadata, opts.defaults);
  check?.(parsed.info, parsed.prediction);
  const { denoiser, weights } = buildTrainedDenoiser(
    payload.tensors,
    JSON.parse(payload.metadata.config as string),
    opts.weights,
  );
  const step = Number(payload.metadata.step);
  return {
    denoiser,
    info: parsed.info,
    step: Number.isFinite(step) && step > 0 ? step : 0,
    weights,
    defaulted: parsed.defaulted,
    prediction: parsed.prediction,
  };
}

/**
 * The denoiser of a training checkpoint (a {@link DiffusionTrainer} checkpoint with the
 * {@link LdmCheckpointInfo} of `ldmae train-ldm` in its config), with its EMA weights when it has them
 * (or `opts.weights`), in eval mode, and what it was trained on. The source may be checkpoint bytes,
 * a checkpoint folder's files or a decoded payload (see {@link LdmCheckpointSource}); everything is
 * validated before the model is built, and only the weights kept are uploaded (a tf payload stays the
 * caller's). The caller owns the returned denoiser.
 */
export function denoiserFromTrainingCheckpoint(
  source: LdmCheckpointSource,
  opts: TrainedDenoiserOptions = {},
): TrainedDenoiser {
  return atDoor('denoiserFromTrainingCheckpoint', () => trainedDenoiser(source, opts));
}

function checkAutoencoder(autoencoder: Autoencoder, info: LdmCheckpointInfo): void {
  if (
    !autoencoder ||
    typeof autoencoder.decode !== 'function' ||
    typeof autoencoder.latentShape !== 'function'
  )
    throw new TypeError(`autoencoder must be an Autoencoder (a VMAE, SD-VAE, ...)`);
  const [h, w, c] = autoencoder.latentShape(info.imageShape);
  const [lh, lw, lc] = info.latentShape;
  if (h !== lh || w !== lw || c !== lc)
    throw new Error(
      `the autoencoder makes ${h}x${w}x${c} latents of ${info.imageShape.join('x')} images, the diffusion model was trained on ${lh}x${lw}x${lc}: use the autoencoder that encoded its latent cache`,
    );
}

function makeScheduler(opts: LdmSamplingOptions, prediction: PredictionType): Scheduler {
  if (opts.scheduler !== undefined) {
    const s = opts.scheduler;
    if (!s || typeof s.step !== 'function' || typeof s.setTimesteps !== 'function')
      throw new TypeError(`scheduler must be a Scheduler`);
    if (s.prediction !== prediction)
      throw new Error(
        `the scheduler expects ${s.prediction} predictions, the denoiser predicts ${prediction}`,
      );
    return s;
  }
  if (prediction !== 'velocity')
    throw new Error(
      `the denoiser predicts ${prediction} (objective 'epsilon'): pass a DDPMScheduler / DDIMScheduler of its training steps and beta schedule as scheduler`,
    );
  const sampler = opts.sampler ?? 'euler';
  if (sampler !== 'euler' && sampler !== 'heun')
    throw new RangeError(`sampler must be 'euler' or 'heun', got ${show(sampler)}`);
  const shift = opts.shift ?? 0.3;
  return sampler === 'heun' ? new FlowHeunScheduler({ shift }) : new FlowEulerScheduler({ shift });
}

/**
 * The sampling pipeline of a trained denoiser and the autoencoder that made its latents: checks that
 * the autoencoder makes latents of `info.latentShape` from `info.imageShape` images (and that the
 * denoiser takes them), then builds a {@link LatentDiffusion} with `info.normalization` and the flow
 * solver of `opts` (Euler, shift 0.3 by default). Autoencoder and denoiser stay the caller's.
 */
export function latentDiffusionFromInfo(
  autoencoder: Autoencoder,
  denoiser: DiT | LightningDiT,
  info: LdmCheckpointInfo,
  opts: LdmSamplingOptions = {},
): LatentDiffusion {
  const prediction = opts.prediction ?? 'velocity';
  const scheduler = atDoor('latentDiffusionFromInfo', () => {
    if (!info || typeof info !== 'object' || !isShape3(info.latentShape) || !isShape3(info.imageShape))
      throw new TypeError('info must be an LdmCheckpointInfo (see parseLdmCheckpointInfo)');
    checkAutoencoder(autoencoder, info);
    const [lh, lw, lc] = info.latentShape;
    if (denoiser?.inputSize?.[0] !== lh || denoiser.inputSize[1] !== lw || denoiser.inChannels !== lc)
      throw new Error(
        `the denoiser takes ${denoiser?.inputSize?.join('x')}x${denoiser?.inChannels} latents, info.latentShape is ${lh}x${lw}x${lc}`,
      );
    if (prediction !== 'velocity' && prediction !== 'epsilon')
      throw new RangeError(`prediction must be 'velocity' or 'epsilon', got ${show(prediction)}`);
    return makeScheduler(opts, prediction);
  });
  return new LatentDiffusion({
    autoencoder,
    denoiser,
    normalization: info.normalization,
    scheduler,
    prediction,
  });
}

/**
 * A trained latent diffusion model, ready to sample: the denoiser of a training checkpoint (EMA weights
 * preferred, see {@link denoiserFromTrainingCheckpoint}) with `autoencoder`, the checkpoint's latent
 * normalisation and a flow solver (Euler with shift 0.3 by default, or `opts.sampler` / `opts.shift` /
 * `opts.scheduler`). The autoencoder's latent shape is checked against the checkpoint's before the
 * denoiser is built. `dispose()` releases the denoiser; the autoencoder stays the caller's.
 */
export function latentDiffusionFromCheckpoint(
  source: LdmCheckpointSource,
  autoencoder: Autoencoder,
  opts: LatentDiffusionFromCheckpointOptions = {},
): LoadedLatentDiffusion {
  return atDoor('latentDiffusionFromCheckpoint', () => fromCheckpoint(source, autoencoder, opts));
}

/** {@link latentDiffusionFromCheckpoint}; errors name the field, the door adds its name. */

function fromCheckpoint(
  source: LdmCheckpointSource,
  autoencoder: Autoencoder,
  opts: LatentDiffusionFromCheckpointOptions,
): LoadedLatentDiffusion {
  let scheduler: Scheduler | undefined;
  const t = trainedDenoiser(source, opts, (info, prediction) => {
    checkAutoencoder(autoencoder, info);
    scheduler = makeScheduler(opts, prediction);
  });
  const pipeline = new LatentDiffusion({
    autoencoder,
    denoiser: t.denoiser,
    normalization: t.info.normalization,
    scheduler,
    prediction: t.prediction,
  });
  const ownScheduler = opts.scheduler === undefined;
  return {
    ...t,
    pipeline,
    dispose: () => {
      t.denoiser.dispose();
      if (ownScheduler) pipeline.scheduler.dispose();
    },
  };
}

/**
 * {@link latentDiffusionFromCheckpoint} from any source: a checkpoint path (Node: the `checkpoint/`
 * folder of `ldmae train-ldm`, or a `.safetensors` checkpoint file), bytes, a FolderSource
 * (`fetchFolder(url)`, `memoryFolder(files)`) or a decoded payload. For a saved pipeline folder, which
 * also holds its autoencoder, use `LatentDiffusion.load`.
 *
 * @example
 * const { pipeline, dispose } = await loadLatentDiffusionCheckpoint('runs/ldm/checkpoint', vmae);
 */
export async function loadLatentDiffusionCheckpoint(
  source: string | FolderSource | LdmCheckpointSource,
  autoencoder: Autoencoder,
  opts: LatentDiffusionFromCheckpointOptions = {},
): Promise<LoadedLatentDiffusion> {
  const where = 'loadLatentDiffusionCheckpoint';
  const isPayload = typeof source === 'object' && source !== null && 'tensors' in source;
  const host: LdmCheckpointSource =
    isPayload || isFolderFiles(source)
      ? (source as LdmCheckpointSource)
      : await readCheckpoint(source as string | FolderSource | Uint8Array, where);
  return atDoor(where, () => fromCheckpoint(host, autoencoder, opts));
}
