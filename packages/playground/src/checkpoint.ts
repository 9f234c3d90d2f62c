/**
 * Reading the output of `ldmae quickstart` (or of `train-ae` + `train-ldm`) from bytes: the files of
 * its output folder, picked by the user or fetched from a base URL, become a VMAE, the diffusion
 * denoiser (EMA weights) and what the denoiser was trained on (latent normalisation, shapes, classes).
 *
 * Two layouts are read, the first preferred:
 *
 * - a **pipeline folder** (`ldm/pipeline/` of a quickstart output, or any folder written by
 *   `LatentDiffusion.save`): `pipeline.json` and the autoencoder and denoiser files it names, loaded
 *   from memory by @ldmae/diffusion's `LatentDiffusion.load` through core's `memoryFolder`; the
 *   normalisation, scheduler, shapes and classes are the pipeline's. Its autoencoder must be a VMAE.
 * - the **checkpoint layout** of earlier runs: `vmae/autoencoder.safetensors` and the diffusion
 *   checkpoint folder `ldm/checkpoint/` (`meta.json` and the weights file it names), read with core's
 *   `decodeCheckpointFolderHost` (the same checks as `loadCheckpoint(folder)` in Node) and rebuilt
 *   with @ldmae/diffusion's `latentDiffusionFromCheckpoint`, as `ldmae sample` rebuilds it.
 */
import {
  autoencoderRegistry,
  decodeCheckpointFolderHost,
  decodeCheckpointHost,
  type LatentNormalization,
  memoryFolder,
  PIPELINE_FILE,
  parseCheckpointMeta,
  parseSafetensorsHeader,
} from '@ldmae/core';
import {
  type Denoiser,
  LatentDiffusion,
  type LdmCheckpointInfo,
  latentDiffusionFromCheckpoint,
  type PipelineJson,
  parsePipelineJson,
} from '@ldmae/diffusion';
import { loadVMAE, VMAE } from '@ldmae/vmae';

/** One file of a checkpoint folder: its path relative to the folder (or just its name) and bytes. */
export interface CheckpointFile {
  path: string;
  bytes: Uint8Array;
}

/** Where `ldmae quickstart --out DIR` puts the files the playground reads, relative to DIR. */
export const QUICKSTART_PATHS = {
  /** The pipeline folder's `pipeline.json` (read first). */
  pipeline: `ldm/pipeline/${PIPELINE_FILE}`,
  vmae: 'vmae/autoencoder.safetensors',
  ldmMeta: 'ldm/checkpoint/meta.json',
  cacheInfo: 'latents/cache-info.json',
  config: 'config.json',
} as const;

/** The files of one checkpoint, sorted out by {@link sortCheckpointFiles}. */
export interface CheckpointBundle {
  vmae: CheckpointFile;
  ldm: CheckpointFile;
  /** The `meta.json` beside the diffusion weights, when given (checked against them). */
  ldmMeta: CheckpointFile | null;
  /** `latents/cache-info.json` (latent normalisation of the cache), when given. */
  cacheInfo: CheckpointFile | null;
  /** The run's `config.json`, when given. */
  config: CheckpointFile | null;
}

/** The files of a pipeline folder among picked or fetched files (see {@link findPipelineFiles}). */
export interface PipelineFiles {
  layout: 'pipeline';
  /** The folder holding `pipeline.json`, as a path among the files ('' when they are bare names). */
  dir: string;
  /** Its `pipeline.json`. */
  json: CheckpointFile;
  /** The files directly in that folder, `pipeline.json` included, with the paths they were given. */
  files: CheckpointFile[];
}

/** What {@link sortFiles} finds: a pipeline folder, else the files of the checkpoint layout. */
export type CheckpointFiles = PipelineFiles | CheckpointBundle;

/** What the diffusion model was trained on; the normalisation is null for a pipeline saved without one. */
export interface LoadedInfo extends Omit<LdmCheckpointInfo, 'normalization'> {
  normalization: LatentNormalization | null;
}

/** A loaded checkpoint; release it with its `dispose()`. */
export interface LoadedCheckpoint {
  /** Which layout it was read from. */
  layout: 'pipeline' | 'checkpoint';
  /**
   * The pipeline folder ('' for bare names or a pipeline fetched from its own URL), or the diffusion
   * checkpoint's weights file, as a path among the files.
   */
  source: string;
  vmae: VMAE;
  denoiser: Denoiser;
  /**
   * What the diffusion model was trained on: the pipeline's `pipeline.json`, or the diffusion
   * checkpoint's info (see @ldmae/diffusion) with any defaults filled in.
   */
  info: LoadedInfo;
  /**
   * The VMAE, the denoiser, the normalisation and the scheduler: the pipeline's own, or for the
   * checkpoint layout the checkpoint's normalisation with Euler, shift 0.3.
   */
  pipeline: LatentDiffusion;
  /** Denoiser weights in use: the EMA average or the trained weights. */
  weights: 'ema' | 'model';
  /** Training step of the diffusion model (a pipeline's recorded `training.steps`), or null when unknown. */
  step: number | null;
  /** Where the normalisation came from. */
  normalizationFrom: 'pipeline.json' | 'ldm checkpoint' | 'cache-info.json' | 'autoencoder';
  /** Release the VMAE, the denoiser and the scheduler. */
  dispose(): void;
}

const baseName = (p: string) => p.split(/[\\/]/).pop() ?? p;
const dirName = (p: string) => p.split(/[\\/]/).slice(0, -1).join('/');
const decoder = new TextDecoder();

/** The parsed `config` metadata of a safetensors file, or null when it has none or is no safetensors. */
export function configOf(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const raw = parseSafetensorsHeader(bytes).metadata.config;
    const cfg = raw ? JSON.parse(raw) : null;
    return cfg && typeof cfg === 'object' ? cfg : null;
  } catch {
    return null;
  }
}

function parseJson(f: CheckpointFile): Record<string, unknown> {
  try {
    return JSON.parse(decoder.decode(f.bytes));
  } catch (e) {
    throw new Error(`'${f.path}' is not valid JSON (${(e as Error).message})`);
  }
}

function checkFiles(files: readonly CheckpointFile[]): void {
  if (
    !Array.isArray(files) ||
    files.some((f) => typeof f?.path !== 'string' || !(f.bytes instanceof Uint8Array))
  )
    throw new TypeError(`checkpoint files must be an array of { path: string, bytes: Uint8Array }`);
}

/** Prefer files whose path ends with `suffix` (quickstart layout), then the first. */
function prefer(files: CheckpointFile[], ...suffixes: string[]): CheckpointFile | undefined {
  for (const s of suffixes) {
    const hit = files.find((f) => f.path === s || f.path.endsWith(`/${s}`));
    if (hit) return hit;
  }
  return files[0];
}

/**
 * Sort the files of a checkpoint folder (any subset that holds the two models, in any order, with
 * folder-relative paths or bare names) by their content: the VMAE is the safetensors file whose
 * config says `ldmae-vmae` (its `autoencoder.safetensors` before a training checkpoint), the
 * diffusion model the one with a denoiser config. Throws naming what is missing.
 */
export function sortCheckpointFiles(files: readonly CheckpointFile[]): CheckpointBundle {
  checkFiles(files);
  const tensors = files.filter((f) => /\.safetensors$/i.test(f.path));
  const vmaes: CheckpointFile[] = [];
  const ldms: CheckpointFile[] = [];
  for (const f of tensors) {
    const cfg = configOf(f.bytes);
    if (cfg?.format === 'ldmae-vmae') vmaes.push(f);
    else if (cfg?.denoiser) ldms.push(f);
  }
  const metas = files.filter((f) => baseName(f.path) === 'meta.json');
  // The weights a meta.json names are the checkpoint (a folder may also hold a killed save's file).
  const named = metas.flatMap((m) => {
    try {
      const dir = dirName(m.path);
      return [`${dir ? `${dir}/` : ''}${parseCheckpointMeta(m.bytes, m.path).weights}`];
    } catch {
      return [];
    }
  });
  const vmae = prefer(vmaes, QUICKSTART_PATHS.vmae, 'autoencoder.safetensors');
  const ldm = prefer(ldms, ...named);
  const seen = files.map((f) => f.path).join(', ') || 'no files';
  if (!vmae)
    throw new Error(
      `no VMAE among the files (${seen}): expected ${QUICKSTART_PATHS.vmae} of an \`ldmae quickstart\` output`,
    );
  if (!ldm)
    throw new Error(
      `no diffusion checkpoint among the files (${seen}): expected ldm/checkpoint/ (meta.json and the weights it names) of an \`ldmae quickstart\` output`,
    );
  const ldmMeta =
    metas.find((m) => dirName(m.path) === dirName(ldm.path) && dirName(m.path) !== '') ??
    metas.find((m) => {
      try {
        const j = parseCheckpointMeta(m.bytes, m.path);
        return j.weights === baseName(ldm.path) && j.bytes === ldm.bytes.length;
      } catch {
        return false;
      }
    }) ??
    null;
  const cacheInfo = prefer(
    files.filter((f) => baseName(f.path) === 'cache-info.json'),
    QUICKSTART_PATHS.cacheInfo,
  );
  const config = files.find((f) => f.path === QUICKSTART_PATHS.config || f.path === 'config.json') ?? null;
  return { vmae, ldm, ldmMeta, cacheInfo: cacheInfo ?? null, config };
}

const depth = (dir: string) => (dir ? dir.split('/').length : 0);

/**
 * The folder holding the pipeline to load among file paths (folder-relative, '/' or '\\'
 * separators, or bare names): the one of a `pipeline.json`, at any depth; a quickstart's
 * `ldm/pipeline/` first, else the shallowest. Null when no path is a `pipeline.json`.
 */
export function pipelineDir(paths: readonly string[]): string | null {
  const dirs = paths.filter((p) => baseName(p) === PIPELINE_FILE).map(dirName);
  if (dirs.length === 0) return null;
  const quick = dirName(QUICKSTART_PATHS.pipeline);
  return (
    dirs.find((d) => d === quick || d.endsWith(`/${quick}`)) ??
    [...dirs].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b))[0]
  );
}

/** Whether `path` is a file directly in the folder `dir` (as {@link pipelineDir} gives it). */
export function isInDir(path: string, dir: string): boolean {
  return dirName(path) === dir;
}

/**
 * The pipeline folder among the files (see {@link pipelineDir}): its `pipeline.json` and the other
 * files directly beside it. Null when there is no `pipeline.json`.
 */
export function findPipelineFiles(files: readonly CheckpointFile[]): PipelineFiles | null {
  checkFiles(files);
  const dir = pipelineDir(files.map((f) => f.path));
  if (dir === null) return null;
  const inDir = files.filter((f) => isInDir(f.path, dir));
  const json = inDir.find((f) => baseName(f.path) === PIPELINE_FILE)!;
  return { layout: 'pipeline', dir, json, files: inDir };
}

/**
 * Sort picked, fetched or stored files: a pipeline folder when they hold a `pipeline.json`
 * ({@link findPipelineFiles}), else the checkpoint layout ({@link sortCheckpointFiles}, which throws
 * naming what is missing).
 */
export function sortFiles(files: readonly CheckpointFile[]): CheckpointFiles {
  // findPipelineFiles checks the files.
  return findPipelineFiles(files) ?? sortCheckpointFiles(files);
}

/** Whether sorted files are a pipeline folder. */
export function isPipelineFiles(f: CheckpointFiles): f is PipelineFiles {
  return (f as PipelineFiles).layout === 'pipeline';
}

/** Load sorted files: {@link loadPipelineFiles} or {@link loadCheckpointBundle}. */
export function loadCheckpointFiles(f: CheckpointFiles): Promise<LoadedCheckpoint> {
  return isPipelineFiles(f) ? loadPipelineFiles(f) : loadCheckpointBundle(f);
}

/**
 * Load a pipeline folder from memory with `LatentDiffusion.load` (its default weights, EMA when
 * saved; the VMAE clamps inputs outside [-1, 1], as uploaded images may be). The pipeline's
 * autoencoder must be a VMAE (the playground reconstructs with it): another kind is disposed and
 * named in the error. The caller owns the result.
 */
export async function loadPipelineFiles(p: PipelineFiles): Promise<LoadedCheckpoint> {
  const where = p.dir || '.';
  const json: PipelineJson = parsePipelineJson(p.json.bytes, p.json.path);
  const folder = memoryFolder(Object.fromEntries(p.files.map((f) => [baseName(f.path), f.bytes])), where);
  const pipe = await LatentDiffusion.load(folder, { autoencoder: { inputRange: 'clamp' } });
  const ae = pipe.autoencoder;
  if (!(ae instanceof VMAE)) {
    const kind = autoencoderRegistry.kindOf(ae)?.description ?? 'of no registered kind';
    pipe.dispose();
    throw new Error(
      `the pipeline folder '${where}' holds the autoencoder '${ae.name}' (${kind}, in ${json.parts.autoencoder}) and a denoiser of ${json.latentShape.join('x')} latents, not a VMAE: the playground reconstructs with a VMAE, so load a pipeline whose autoencoder is one (as \`ldmae quickstart\` writes in ldm/pipeline/)`,
    );
  }
  const training = pipe.info?.training ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const steps = training.steps;
  return {
    layout: 'pipeline',
    source: p.dir,
    vmae: ae,
    denoiser: pipe.denoiser,
    info: {
      cache: str(training['latent cache']),
      autoencoder: str(training.autoencoder),
      normalization: pipe.normalization,
      latentShape: [...json.latentShape],
      imageShape: [...json.info.imageShape],
      numClasses: json.numClasses,
      classes: json.info.classes ? [...json.info.classes] : null,
    },
    pipeline: pipe,
    weights: json.weights,
    step: Number.isSafeInteger(steps) && (steps as number) >= 0 ? (steps as number) : null,
    normalizationFrom: 'pipeline.json',
    dispose: () => pipe.dispose(),
  };
}

/** The normalisation in `latents/cache-info.json`, or undefined when there is none. */
function cacheNormalization(f: CheckpointFile | null): LatentNormalization | undefined {
  const n = f ? parseJson(f).normalization : undefined;
  return n && typeof n === 'object' ? (n as LatentNormalization) : undefined;
}

/**
 * Build the models of a checkpoint bundle. Everything is validated first (CRCs, meta.json, the
 * checkpoint's info, the VMAE's latents against the diffusion model's); the caller owns the result.
 * Checkpoints without the info of `ldmae train-ldm` (other trainers) get the normalisation of
 * `latents/cache-info.json`, else the VMAE's, the VMAE's image and latent shapes, and the class count
 * of the denoiser config.
 */
export async function loadCheckpointBundle(bundle: CheckpointBundle): Promise<LoadedCheckpoint> {
  let host: ReturnType<typeof decodeCheckpointHost>;
  if (bundle.ldmMeta) {
    // meta.json, the weights' size and CRC against it, then the weights; errors name the files.
    host = decodeCheckpointFolderHost({
      meta: bundle.ldmMeta.bytes,
      weights: bundle.ldm.bytes,
      metaPath: bundle.ldmMeta.path,
      weightsPath: bundle.ldm.path,
    });
  } else {
    try {
      host = decodeCheckpointHost(bundle.ldm.bytes);
    } catch (e) {
      throw new Error(`'${bundle.ldm.path}': ${(e as Error).message}`);
    }
  }
  const cacheNorm = cacheNormalization(bundle.cacheInfo);
  const vmae = await loadVMAE(bundle.vmae.bytes, { inputRange: 'clamp' }).catch((e: Error) => {
    throw new Error(`'${bundle.vmae.path}': ${e.message}`);
  });
  try {
    const imageShape: [number, number, number] = [vmae.config.imgSize[0], vmae.config.imgSize[1], 3];
    const normalization = cacheNorm ?? vmae.latentNormalization ?? undefined;
    // Host tensors in: only the EMA weights are uploaded, the rest of the checkpoint stays here.
    const numClasses = (configOf(bundle.ldm.bytes)?.denoiser as { numClasses?: number } | undefined)
      ?.numClasses;
    const ldm = latentDiffusionFromCheckpoint(host, vmae, {
      defaults: {
        imageShape,
        latentShape: vmae.latentShape(imageShape),
        ...(normalization ? { normalization } : {}),
        ...(numClasses ? { numClasses } : {}),
      },
    });
    const normalizationFrom: LoadedCheckpoint['normalizationFrom'] = !ldm.defaulted.includes('normalization')
      ? 'ldm checkpoint'
      : cacheNorm
        ? 'cache-info.json'
        : 'autoencoder';
    return {
      layout: 'checkpoint',
      source: bundle.ldm.path,
      vmae,
      denoiser: ldm.denoiser,
      info: ldm.info,
      pipeline: ldm.pipeline,
      weights: ldm.weights,
      step: ldm.step,
      normalizationFrom,
      dispose: () => {
        vmae.dispose();
        ldm.dispose();
      },
    };
  } catch (e) {
    vmae.dispose();
    const msg = (e as Error).message.replace('latentDiffusionFromCheckpoint: ', '');
    throw new Error(`'${bundle.ldm.path}': ${msg}`);
  }
}

/** Join a base URL (a folder, with or without a trailing slash) and a relative path. */
export function joinUrl(base: string, rel: string): string {
  return `${base.replace(/\/+$/, '')}/${rel}`;
}

/** How {@link fetchCheckpointFiles} reads the pipeline folder: where it looks, in order. */
export const PIPELINE_URLS = [QUICKSTART_PATHS.pipeline, PIPELINE_FILE] as const;

/**
 * Fetch the files of an output folder served at `baseUrl`. A pipeline folder first: the
 * `pipeline.json` of the quickstart's `ldm/pipeline/`, else one at `baseUrl` itself (the URL of a
 * pipeline folder), and the autoencoder and denoiser files it names. When neither exists (HTTP 404, or
 * an HTML page, a dev server's answer for any missing path), the checkpoint layout: the VMAE, the
 * diffusion checkpoint (meta.json, then the weights file it names) and, when present,
 * cache-info.json and config.json. Paths are relative to `baseUrl`; other HTTP errors throw naming
 * the URL, as does an HTML page in place of a file that is needed.
 */
export async function fetchCheckpointFiles(
  baseUrl: string,
  fetchFn: typeof fetch = fetch,
): Promise<CheckpointFile[]> {
  if (typeof baseUrl !== 'string' || !baseUrl.trim())
    throw new TypeError('fetchCheckpointFiles: baseUrl must be the URL of a quickstart output folder');
  const base = baseUrl.trim();
  /** The file, or null when `probe` and it is absent (404, an HTML page) or optional and unreadable. */
  const get = async (
    rel: string,
    how: 'needed' | 'probe' | 'optional' = 'needed',
  ): Promise<CheckpointFile | null> => {
    const url = joinUrl(base, rel);
    let res: Response;
    try {
      res = await fetchFn(url);
    } catch (e) {
      if (how === 'optional') return null;
      throw new Error(`cannot fetch ${url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      if (how === 'optional' || (how === 'probe' && res.status === 404)) return null;
      throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
    }
    if (/^text\/html/i.test(res.headers.get('content-type') ?? '')) {
      if (how !== 'needed') return null;
      throw new Error(`${url} is an HTML page, not a checkpoint file: is the base URL right?`);
    }
    return { path: rel, bytes: new Uint8Array(await res.arrayBuffer()) };
  };
  for (const rel of PIPELINE_URLS) {
    const json = await get(rel, 'probe');
    if (!json) continue;
    const { parts } = parsePipelineJson(json.bytes, joinUrl(base, rel));
    const dir = dirName(rel);
    const files = await Promise.all(
      [parts.autoencoder, parts.denoiser].map((name) => get(dir ? `${dir}/${name}` : name)),
    );
    return [json, ...(files as CheckpointFile[])];
  }
  const meta = await get(QUICKSTART_PATHS.ldmMeta).catch((e: Error) => {
    throw new Error(
      `${e.message} (and no ${PIPELINE_URLS.join(' or ')} there either: is the base URL the output folder of \`ldmae quickstart\` or a pipeline folder?)`,
    );
  });
  const { weights } = parseCheckpointMeta(meta!.bytes, joinUrl(base, meta!.path));
  const [vmae, ldm, cacheInfo, config] = await Promise.all([
    get(QUICKSTART_PATHS.vmae),
    get(`${dirName(QUICKSTART_PATHS.ldmMeta)}/${weights}`),
    get(QUICKSTART_PATHS.cacheInfo, 'optional'),
    get(QUICKSTART_PATHS.config, 'optional'),
  ]);
  return [vmae!, ldm!, meta!, ...(cacheInfo ? [cacheInfo] : []), ...(config ? [config] : [])];
}

/**
 * Only the files a checkpoint needs (what is kept in IndexedDB): a pipeline's `pipeline.json` and the
 * two files it names, or the files of the checkpoint layout.
 */
export function bundleFiles(b: CheckpointFiles): CheckpointFile[] {
  if (isPipelineFiles(b)) {
    let names: string[];
    try {
      const { parts } = parsePipelineJson(b.json.bytes, b.json.path);
      names = [PIPELINE_FILE, parts.autoencoder, parts.denoiser];
    } catch {
      return [...b.files];
    }
    return b.files.filter((f) => names.includes(baseName(f.path)));
  }
  return [b.vmae, b.ldm, b.ldmMeta, b.cacheInfo, b.config].filter((f): f is CheckpointFile => f !== null);
}

/** One line describing a loaded checkpoint. */
export function describeLoaded(c: LoadedCheckpoint): string {
  const v = c.vmae.config;
  const [lh, lw, lc] = c.info.latentShape;
  const from =
    c.layout === 'pipeline' ? `pipeline folder${c.source ? ` ${c.source}` : ''}` : `checkpoint ${c.source}`;
  const norm =
    c.layout === 'pipeline'
      ? c.info.normalization
        ? 'normalisation from the pipeline (pipeline.json)'
        : 'no latent normalisation (pipeline.json)'
      : `normalisation from ${c.normalizationFrom}`;
  return (
    `${from}: VMAE patch ${v.patchSize}, ${v.embedDim}-wide, latents ${lh}x${lw}x${lc}; ` +
    `diffusion model of ${c.info.numClasses} classes (${c.weights === 'ema' ? 'EMA' : 'trained'} weights)` +
    `${c.step === null ? '' : ` at step ${c.step}`}; ${norm}`
  );
}
