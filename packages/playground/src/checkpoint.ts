/**
 * Reading a checkpoint of `ldmae quickstart` (or of `train-ae` + `train-ldm`) from bytes: the files of
 * its output folder, picked by the user or fetched from a base URL, become a VMAE, the diffusion
 * denoiser (EMA weights) and what the denoiser was trained on (latent normalisation, shapes, classes).
 *
 * The diffusion checkpoint is a folder (`model.safetensors` + `meta.json`), read from bytes with core's
 * `decodeCheckpointFolderHost`: the same checks as `loadCheckpoint(folder)` in Node.
 */
import {
  type CheckpointPayload,
  decodeCheckpointFolderHost,
  decodeCheckpointHost,
  type HostTensorDict,
  type LatentNormalization,
  parseCheckpointMeta,
  parseSafetensorsHeader,
  toTfTensors,
} from '@ldmae/core';
import { type DiT, denoiserFromCheckpoint, type LightningDiT } from '@ldmae/diffusion';
import { loadVMAE, type VMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';

/** One file of a checkpoint folder: its path relative to the folder (or just its name) and bytes. */
export interface CheckpointFile {
  path: string;
  bytes: Uint8Array;
}

/** Where `ldmae quickstart --out DIR` puts the files the playground reads, relative to DIR. */
export const QUICKSTART_PATHS = {
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

/** What the diffusion model was trained on (the `user` part of a train-ldm checkpoint's config). */
export interface LdmInfo {
  normalization: LatentNormalization;
  latentShape: [number, number, number];
  imageShape: [number, number, number];
  numClasses: number;
  classes: string[] | null;
}

/** A loaded checkpoint; dispose it with {@link disposeLoaded}. */
export interface LoadedCheckpoint {
  vmae: VMAE;
  denoiser: DiT | LightningDiT;
  info: LdmInfo;
  /** Training step of the diffusion checkpoint. */
  step: number;
  /** Where the normalisation came from. */
  normalizationFrom: 'ldm checkpoint' | 'cache-info.json' | 'autoencoder';
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
  if (
    !Array.isArray(files) ||
    files.some((f) => typeof f?.path !== 'string' || !(f.bytes instanceof Uint8Array))
  )
    throw new TypeError('sortCheckpointFiles: files must be an array of { path: string, bytes: Uint8Array }');
  const tensors = files.filter((f) => /\.safetensors$/i.test(f.path));
  const vmaes: CheckpointFile[] = [];
  const ldms: CheckpointFile[] = [];
  for (const f of tensors) {
    const cfg = configOf(f.bytes);
    if (cfg?.format === 'ldmae-vmae') vmaes.push(f);
    else if (cfg?.denoiser) ldms.push(f);
  }
  const vmae = prefer(vmaes, QUICKSTART_PATHS.vmae, 'autoencoder.safetensors');
  const ldm = prefer(ldms, 'ldm/checkpoint/model.safetensors');
  const seen = files.map((f) => f.path).join(', ') || 'no files';
  if (!vmae)
    throw new Error(
      `no VMAE among the files (${seen}): expected ${QUICKSTART_PATHS.vmae} of an \`ldmae quickstart\` output`,
    );
  if (!ldm)
    throw new Error(
      `no diffusion checkpoint among the files (${seen}): expected ldm/checkpoint/model.safetensors of an \`ldmae quickstart\` output`,
    );
  const metas = files.filter((f) => baseName(f.path) === 'meta.json');
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

function isNormalization(n: unknown, c: number): n is LatentNormalization {
  const v = n as LatentNormalization | null;
  return (
    !!v &&
    Array.isArray(v.shift) &&
    Array.isArray(v.scale) &&
    v.shift.length === c &&
    v.scale.length === c &&
    [...v.shift, ...v.scale].every(Number.isFinite)
  );
}

/** The denoiser's tensors (EMA when present, else the live model) of decoded checkpoint host tensors. */
function denoiserTensors(tensors: HostTensorDict): HostTensorDict {
  const names = Object.keys(tensors);
  const prefix = names.some((k) => k.startsWith('ema.')) ? 'ema.' : 'model.';
  const out: HostTensorDict = {};
  for (const k of names) if (k.startsWith(prefix)) out[k] = tensors[k];
  return out;
}

/**
 * Build the models of a checkpoint bundle. Everything is validated first (CRCs, meta.json, shapes of
 * the VMAE's latents against the diffusion model's); the caller owns the result.
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
  const cfg = JSON.parse(host.metadata.config ?? '{}') as { user?: Partial<LdmInfo> };
  const user = cfg.user ?? {};
  const vmae = await loadVMAE(bundle.vmae.bytes, { inputRange: 'clamp' }).catch((e: Error) => {
    throw new Error(`'${bundle.vmae.path}': ${e.message}`);
  });
  let denoiser: DiT | LightningDiT | null = null;
  try {
    const payload: CheckpointPayload = {
      tensors: toTfTensors(denoiserTensors(host.tensors)),
      metadata: host.metadata,
    };
    try {
      denoiser = denoiserFromCheckpoint(payload);
    } finally {
      tf.dispose(Object.values(payload.tensors));
    }
    denoiser.eval();
    const imageShape = (user.imageShape ?? [vmae.config.imgSize[0], vmae.config.imgSize[1], 3]) as [
      number,
      number,
      number,
    ];
    const latentShape = vmae.latentShape(imageShape);
    const [h, w] = denoiser.inputSize;
    const c = denoiser.inChannels;
    if (latentShape[0] !== h || latentShape[1] !== w || latentShape[2] !== c) {
      throw new Error(
        `the VMAE makes ${latentShape.join('x')} latents of ${imageShape.join('x')} images, the diffusion model takes ${h}x${w}x${c}: they are not from the same run`,
      );
    }
    let normalization: LatentNormalization;
    let normalizationFrom: LoadedCheckpoint['normalizationFrom'];
    const cacheNorm = bundle.cacheInfo ? parseJson(bundle.cacheInfo).normalization : undefined;
    if (isNormalization(user.normalization, c)) {
      normalization = user.normalization;
      normalizationFrom = 'ldm checkpoint';
    } else if (isNormalization(cacheNorm, c)) {
      normalization = cacheNorm;
      normalizationFrom = 'cache-info.json';
    } else if (isNormalization(vmae.latentNormalization, c)) {
      normalization = vmae.latentNormalization;
      normalizationFrom = 'autoencoder';
    } else {
      throw new Error(
        `no latent normalisation with ${c} channels: the diffusion checkpoint has none, and neither ${QUICKSTART_PATHS.cacheInfo} nor the VMAE gives one`,
      );
    }
    const numClasses = denoiser.numClasses;
    const classes = Array.isArray(user.classes) && user.classes.length === numClasses ? user.classes : null;
    const info: LdmInfo = { normalization, latentShape, imageShape, numClasses, classes };
    return { vmae, denoiser, info, step: Number(host.metadata.step) || 0, normalizationFrom };
  } catch (e) {
    vmae.dispose();
    denoiser?.dispose();
    throw e;
  }
}

/** Release the models of a loaded checkpoint. */
export function disposeLoaded(c: LoadedCheckpoint | null): void {
  c?.vmae.dispose();
  c?.denoiser.dispose();
}

/** Join a base URL (a folder, with or without a trailing slash) and a relative path. */
export function joinUrl(base: string, rel: string): string {
  return `${base.replace(/\/+$/, '')}/${rel}`;
}

/**
 * Fetch the files of a quickstart output folder served at `baseUrl`: the VMAE, the diffusion
 * checkpoint (meta.json, then the weights file it names) and, when present, cache-info.json and
 * config.json.
 */
export async function fetchCheckpointFiles(
  baseUrl: string,
  fetchFn: typeof fetch = fetch,
): Promise<CheckpointFile[]> {
  if (typeof baseUrl !== 'string' || !baseUrl.trim())
    throw new TypeError('fetchCheckpointFiles: baseUrl must be the URL of a quickstart output folder');
  const get = async (rel: string, optional = false): Promise<CheckpointFile | null> => {
    const url = joinUrl(baseUrl.trim(), rel);
    let res: Response;
    try {
      res = await fetchFn(url);
    } catch (e) {
      if (optional) return null;
      throw new Error(`cannot fetch ${url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      if (optional) return null;
      throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
    }
    if (/^text\/html/i.test(res.headers.get('content-type') ?? ''))
      throw new Error(`${url} is an HTML page, not a checkpoint file: is the base URL right?`);
    return { path: rel, bytes: new Uint8Array(await res.arrayBuffer()) };
  };
  const meta = (await get(QUICKSTART_PATHS.ldmMeta))!;
  const { weights } = parseCheckpointMeta(meta.bytes, joinUrl(baseUrl.trim(), meta.path));
  const [vmae, ldm, cacheInfo, config] = await Promise.all([
    get(QUICKSTART_PATHS.vmae),
    get(`${dirName(QUICKSTART_PATHS.ldmMeta)}/${weights}`),
    get(QUICKSTART_PATHS.cacheInfo, true),
    get(QUICKSTART_PATHS.config, true),
  ]);
  return [vmae!, ldm!, meta, ...(cacheInfo ? [cacheInfo] : []), ...(config ? [config] : [])];
}

/** Only the files a checkpoint needs (what is kept in IndexedDB). */
export function bundleFiles(b: CheckpointBundle): CheckpointFile[] {
  return [b.vmae, b.ldm, b.ldmMeta, b.cacheInfo, b.config].filter((f): f is CheckpointFile => f !== null);
}

/** One line describing a loaded checkpoint. */
export function describeLoaded(c: LoadedCheckpoint): string {
  const v = c.vmae.config;
  const [lh, lw, lc] = c.info.latentShape;
  return (
    `VMAE patch ${v.patchSize}, ${v.embedDim}-wide, latents ${lh}x${lw}x${lc}; ` +
    `diffusion model of ${c.info.numClasses} classes at step ${c.step}; ` +
    `normalisation from ${c.normalizationFrom}`
  );
}
