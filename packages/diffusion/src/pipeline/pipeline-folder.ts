/**
 * A {@link LatentDiffusion} pipeline as one folder, in the way of diffusers' `save_pretrained`:
 *
 * ```
 * pipeline.json                  what the pipeline is: parts, normalisation, scheduler, shapes, classes
 * autoencoder-<g>.safetensors    the autoencoder (a checkpoint of its registered kind)
 * denoiser-<g>.safetensors       the denoiser: trained weights (`model.`) and, when saved, EMA (`ema.`)
 * README.md                      a model card
 * ```
 *
 * A save writes the parts as a new generation `<g>`, then replaces `pipeline.json` atomically (the
 * commit), then removes the parts of earlier generations: a crash leaves the previous pipeline or the
 * new one. Loading reads `pipeline.json`, then the parts through the autoencoder and denoiser
 * registries, so any registered kind (a user's own autoencoder too) round-trips.
 */
import {
  autoencoderCheckpoint,
  autoencoderRegistry,
  type EMA,
  encodeCheckpointChunks,
  type FolderSource,
  type FolderStore,
  type LatentNormalization,
  openFolder,
  openFolderStore,
  PIPELINE_FILE,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../denoiser.js';
import { denoiserRegistry } from '../models/kind.js';
import { schedulerFromConfig } from '../schedulers/create.js';
import type { PredictionType, Scheduler, SchedulerConfig } from '../schedulers/scheduler.js';
import { LatentDiffusion } from './latent-diffusion.js';

/** `format` of `pipeline.json`. */
export const PIPELINE_FORMAT = 'ldmae-pipeline';

/** What a saved pipeline describes about itself (the `info` of `pipeline.json`). */
export interface PipelineInfo {
  /** Image shape [H, W, 3] the autoencoder encodes. */
  imageShape: [number, number, number];
  /** Class names, one per class, or null when unknown. */
  classes: string[] | null;
  /** Free JSON about how it was made (data, command, steps, metrics); shown in the model card. */
  training?: Record<string, unknown>;
}

/** The content of `pipeline.json` (see {@link parsePipelineJson}). */
export interface PipelineJson {
  format: typeof PIPELINE_FORMAT;
  version: 1;
  /** Save counter; the parts' file names carry it. */
  generation: number;
  /** File of each part. */
  parts: { autoencoder: string; denoiser: string };
  /** The normalisation the denoiser was trained in, or null (latents used as they are). */
  normalization: LatentNormalization | null;
  /** What the denoiser predicts. */
  prediction: PredictionType;
  /** The scheduler to sample with (its `toJSON()`). */
  scheduler: SchedulerConfig;
  /** The denoiser weights sampled with by default ('ema' when EMA weights were saved). */
  weights: 'ema' | 'model';
  /** Latent shape [h, w, c] of one image. */
  latentShape: [number, number, number];
  /** Number of real classes (1 for an unconditional model). */
  numClasses: number;
  info: PipelineInfo;
}

/** Options of {@link LatentDiffusion.save}. */
export interface SavePipelineOptions {
  /**
   * The EMA of the denoiser's weights, saved beside the trained weights (`ema.` tensors) and used by
   * default when loading. Without it only the denoiser's current weights are saved.
   */
  ema?: EMA;
  /** Image shape [H, W, 3] (default: the pipeline's `info`, else square images from the latent grid). */
  imageShape?: [number, number, number];
  /** Class names (default: the pipeline's `info`, else none). */
  classes?: string[] | null;
  /** Free JSON about how the pipeline was made (data, command, steps, metrics) for the model card. */
  training?: Record<string, unknown>;
  /** Title of the model card (default 'Latent diffusion pipeline'). */
  title?: string;
}

/** Options of {@link LatentDiffusion.load}. */
export interface LoadPipelineOptions {
  /** Denoiser weights to sample with: 'ema' or 'model' (default: what the pipeline recorded). */
  weights?: 'ema' | 'model';
  /** A scheduler to use instead of the saved one (its prediction must match the denoiser's). */
  scheduler?: Scheduler;
  /** Options for the autoencoder's kind (e.g. the VMAE's `inputRange`). */
  autoencoder?: Record<string, unknown>;
}

/** A value for an error message: its JSON ('nothing' for undefined), cut at 80 characters. */
export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'nothing';
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};
/** Whether `v` is a shape of 3 positive integers. */
export const isShape3 = (v: unknown): v is [number, number, number] =>
  Array.isArray(v) && v.length === 3 && v.every((x) => Number.isInteger(x) && x > 0);
const PART_RE = /^(autoencoder|denoiser)-(\d+)\.safetensors$/;

/**
 * Parse and validate `pipeline.json` (bytes or text); `where` names it in errors, which say which field
 * is wrong and what was expected.
 */
export function parsePipelineJson(json: Uint8Array | string, where = PIPELINE_FILE): PipelineJson {
  let v: unknown;
  try {
    v = JSON.parse(typeof json === 'string' ? json : new TextDecoder().decode(json));
  } catch (e) {
    throw new Error(`'${where}' is not valid JSON (${(e as Error).message})`);
  }
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new Error(`'${where}': ${field} must be ${expected}, got ${show(got)}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('the file', 'a JSON object', v);
  const p = v as Record<string, unknown>;
  if (p.format !== PIPELINE_FORMAT) bad('format', `'${PIPELINE_FORMAT}'`, p.format);
  if (p.version !== 1) bad('version', '1 (the only version this package reads)', p.version);
  if (!Number.isSafeInteger(p.generation) || (p.generation as number) < 1)
    bad('generation', 'an integer >= 1', p.generation);
  const parts = p.parts as Record<string, unknown> | undefined;
  for (const k of ['autoencoder', 'denoiser'])
    if (typeof parts?.[k] !== 'string' || /[/\\]/.test(parts[k] as string))
      bad(`parts.${k}`, 'a file name in the folder', parts?.[k]);
  if (!isShape3(p.latentShape)) bad('latentShape', '[h, w, c] (3 positive integers)', p.latentShape);
  const c = (p.latentShape as number[])[2];
  const n = p.normalization as LatentNormalization | null;
  const nums = (a: unknown) => Array.isArray(a) && a.length === c && a.every(Number.isFinite);
  if (n !== null && (typeof n !== 'object' || !nums(n.shift) || !nums(n.scale)))
    bad('normalization', `null or { shift, scale } with ${c} finite numbers each`, n);
  if (p.prediction !== 'velocity' && p.prediction !== 'epsilon')
    bad('prediction', "'velocity' or 'epsilon'", p.prediction);
  if (typeof p.scheduler !== 'object' || p.scheduler === null)
    bad('scheduler', 'a scheduler config', p.scheduler);
  if (p.weights !== 'ema' && p.weights !== 'model') bad('weights', "'ema' or 'model'", p.weights);
  if (!Number.isInteger(p.numClasses) || (p.numClasses as number) < 1)
    bad('numClasses', 'an integer >= 1', p.numClasses);
  const info = p.info as Partial<PipelineInfo> | undefined;
  if (typeof info !== 'object' || info === null) bad('info', 'an object', info);
  const i = info as PipelineInfo;
  if (!isShape3(i.imageShape)) bad('info.imageShape', '[H, W, 3] (3 positive integers)', i.imageShape);
  if (
    i.classes !== null &&
    !(
      Array.isArray(i.classes) &&
      i.classes.length === p.numClasses &&
      i.classes.every((x) => typeof x === 'string')
    )
  )
    bad('info.classes', `null or ${p.numClasses} class names`, i.classes);
  if (
    i.training !== undefined &&
    (typeof i.training !== 'object' || i.training === null || Array.isArray(i.training))
  )
    bad('info.training', 'an object', i.training);
  return p as unknown as PipelineJson;
}

/** Save `pipe` into `target` (a folder path in Node, or any FolderStore). See {@link LatentDiffusion.save}. */
export async function savePipeline(
  pipe: LatentDiffusion,
  target: string | FolderStore,
  opts: SavePipelineOptions = {},
): Promise<PipelineJson> {
  const where = 'LatentDiffusion.save';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${where}: options must be an object`);
  const store = openFolderStore(target, where);
  const denoiserKind = denoiserRegistry.kindOf(pipe.denoiser);
  if (!denoiserKind)
    throw new Error(`${where}: the denoiser is of no registered kind; register it with registerDenoiserKind`);
  if (!autoencoderRegistry.kindOf(pipe.autoencoder))
    throw new Error(
      `${where}: the autoencoder '${pipe.autoencoder.name}' is of no registered kind; import its package (@ldmae/vmae, @ldmae/baselines) or register it with registerAutoencoderKind`,
    );
  const d = pipe.denoiser;
  const [h, w] = d.inputSize;
  const latentShape: [number, number, number] = [h, w, d.inChannels];
  const imageShape = opts.imageShape ?? pipe.info?.imageShape ?? guessImageShape(pipe, latentShape);
  if (!isShape3(imageShape))
    throw new TypeError(`${where}: imageShape must be [H, W, 3], got ${show(imageShape)}`);
  const ae = pipe.autoencoder.latentShape(imageShape);
  if (ae.join() !== latentShape.join())
    throw new Error(
      `${where}: the autoencoder makes ${ae.join('x')} latents of ${imageShape.join('x')} images, the denoiser takes ${latentShape.join('x')}`,
    );
  const classes = opts.classes === undefined ? (pipe.info?.classes ?? null) : opts.classes;
  if (classes !== null && (!Array.isArray(classes) || classes.length !== d.numClasses))
    throw new TypeError(`${where}: classes must be null or ${d.numClasses} class names`);
  const training = opts.training ?? pipe.info?.training;
  const prediction = pipe.prediction ?? d.prediction ?? pipe.scheduler.prediction;

  const existing = await store.list();
  const previous = await store.read(PIPELINE_FILE);
  let generation = previous ? Number(safeGeneration(previous)) : 0;
  for (const name of existing) {
    const m = PART_RE.exec(name);
    if (m) generation = Math.max(generation, Number(m[2]));
  }
  generation++;
  const parts = {
    autoencoder: `autoencoder-${generation}.safetensors`,
    denoiser: `denoiser-${generation}.safetensors`,
  };

  const aePayload = autoencoderCheckpoint(pipe.autoencoder);
  try {
    await store.write(parts.autoencoder, await encodeCheckpointChunks(aePayload));
  } finally {
    tf.dispose(Object.values(aePayload.tensors));
  }
  const dPayload = denoiserKind.toPayload(d);
  const emaTensors = opts.ema ? opts.ema.stateDict() : {};
  try {
    for (const [k, t] of Object.entries(emaTensors)) dPayload.tensors[`ema.${k}`] = t;
    if (opts.ema) dPayload.metadata.ema = JSON.stringify(opts.ema.getStateJson());
    await store.write(parts.denoiser, await encodeCheckpointChunks(dPayload));
  } finally {
    tf.dispose(Object.values(dPayload.tensors));
  }
  const json: PipelineJson = {
    format: PIPELINE_FORMAT,
    version: 1,
    generation,
    parts,
    normalization: pipe.normalization,
    prediction,
    scheduler: pipe.scheduler.toJSON(),
    weights: opts.ema ? 'ema' : 'model',
    latentShape,
    numClasses: d.numClasses,
    info: { imageShape, classes, ...(training ? { training } : {}) },
  };
  await store.write('README.md', new TextEncoder().encode(modelCard(json, pipe, opts)));
  // The commit: from here on the folder holds the new pipeline.
  await store.write(PIPELINE_FILE, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
  for (const name of existing)
    if (PART_RE.test(name) && name !== parts.autoencoder && name !== parts.denoiser)
      await store.remove(name).catch(() => {});
  return json;
}

function safeGeneration(bytes: Uint8Array): number {
  try {
    const g = JSON.parse(new TextDecoder().decode(bytes)).generation;
    return Number.isSafeInteger(g) && g > 0 ? g : 0;
  } catch {
    return 0;
  }
}

/** Square images whose latent grid is the denoiser's, when the autoencoder says so. */
function guessImageShape(pipe: LatentDiffusion, latent: [number, number, number]): [number, number, number] {
  const probe = pipe.autoencoder.latentShape([256, 256, 3]);
  const f = 256 / probe[0];
  return [latent[0] * f, latent[1] * f, 3];
}

/** Load a pipeline folder (a path in Node, or any FolderSource). See {@link LatentDiffusion.load}. */
export async function loadPipeline(
  source: string | FolderSource,
  opts: LoadPipelineOptions = {},
): Promise<LatentDiffusion> {
  const where = 'LatentDiffusion.load';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${where}: options must be an object`);
  const folder = await openFolder(source, where);
  const loc = folder.location;
  const raw = await folder.read(PIPELINE_FILE);
  if (!raw)
    throw new Error(
      `${where}: '${loc}' has no ${PIPELINE_FILE} (expected a folder written by LatentDiffusion.save or \`ldmae train-ldm\`)`,
    );
  const json = parsePipelineJson(raw, `${loc}/${PIPELINE_FILE}`);
  const weights = opts.weights ?? json.weights;
  if (weights !== 'ema' && weights !== 'model')
    throw new TypeError(`${where}: weights must be 'ema' or 'model', got ${show(weights)}`);
  if (opts.scheduler && opts.scheduler.prediction !== json.prediction)
    throw new Error(
      `${where}: the scheduler expects ${opts.scheduler.prediction} predictions, the denoiser predicts ${json.prediction}`,
    );
  const read = async (name: string) => {
    const b = await folder.read(name);
    if (!b) throw new Error(`${where}: '${loc}/${name}', named by ${PIPELINE_FILE}, is missing`);
    return b;
  };
  const aeBytes = await read(json.parts.autoencoder);
  const denBytes = await read(json.parts.denoiser);
  const { model: ae } = await autoencoderRegistry.load(aeBytes, opts.autoencoder ?? {});
  let denoiser: Denoiser | undefined;
  try {
    const got = ae.latentShape(json.info.imageShape);
    if (got.join() !== json.latentShape.join())
      throw new Error(
        `${where}: the autoencoder in '${loc}' makes ${got.join('x')} latents, ${PIPELINE_FILE} says ${json.latentShape.join('x')}`,
      );
    denoiser = (await denoiserRegistry.load(denBytes, { weights })).model;
    denoiser.prediction ??= json.prediction;
    return new LatentDiffusion({
      autoencoder: ae,
      denoiser,
      normalization: json.normalization,
      scheduler: opts.scheduler ?? schedulerFromConfig(json.scheduler),
      prediction: json.prediction,
      info: json.info,
    });
  } catch (e) {
    ae.dispose();
    (denoiser as { dispose?: () => void } | undefined)?.dispose?.();
    throw e;
  }
}

/** The model card README.md of a saved pipeline. */
function modelCard(json: PipelineJson, pipe: LatentDiffusion, opts: SavePipelineOptions): string {
  const d = pipe.denoiser as Denoiser & { toJSON?: () => Record<string, unknown> };
  const cfg = d.toJSON?.();
  const lines = [
    `# ${opts.title ?? 'Latent diffusion pipeline'}`,
    '',
    'A latent diffusion pipeline saved by LDMAE-TS (`@ldmae/diffusion`). Load it with:',
    '',
    '```ts',
    "import '@ldmae/vmae'; // and/or '@ldmae/baselines': registers the autoencoder kinds",
    "import { LatentDiffusion } from '@ldmae/diffusion';",
    "const pipe = await LatentDiffusion.load('path/to/this/folder');",
    'const images = await pipe.sample({ n: 8, steps: 50, cfg: 3, seed: 0 });',
    '```',
    '',
    '## What it is',
    '',
    `- Autoencoder: \`${pipe.autoencoder.name}\` (${autoencoderRegistry.kindOf(pipe.autoencoder)?.description}), images ${json.info.imageShape.join(' x ')}, latents ${json.latentShape.join(' x ')}`,
    `- Denoiser: ${cfg ? `\`${String(cfg.type)}\` depth ${cfg.depth}, width ${cfg.hiddenSize}, patch ${cfg.patchSize}` : denoiserRegistry.kindOf(d)?.description}; predicts ${json.prediction}`,
    `- Weights sampled with by default: ${json.weights === 'ema' ? 'the EMA average (the trained weights are saved too)' : 'the trained weights'}`,
    `- Scheduler: \`${json.scheduler.type}\` ${JSON.stringify(json.scheduler)}`,
    `- Classes: ${json.numClasses}${json.info.classes ? ` (${json.info.classes.join(', ')})` : ''}`,
    `- Latent normalisation: ${json.normalization ? '(z - shift) * scale per channel, in pipeline.json' : 'none'}`,
  ];
  if (json.info.training) {
    lines.push('', '## How it was made', '');
    for (const [k, v] of Object.entries(json.info.training))
      lines.push(`- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return `${lines.join('\n')}\n`;
}
