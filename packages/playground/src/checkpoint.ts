/**
 * Reading a checkpoint of `ldmae quickstart` (or of `train-ae` + `train-ldm`) from bytes: the files of
 * its output folder, picked by the user or fetched from a base URL, become a VMAE, the diffusion
 * denoiser (EMA weights) and what the denoiser was trained on (latent normalisation, shapes, classes).
 *
 * The diffusion checkpoint is a folder (`meta.json` and the weights file it names), read from bytes with core's
 * `decodeCheckpointFolderHost` (the same checks as `loadCheckpoint(folder)` in Node) and rebuilt with
 * @ldmae/diffusion's `latentDiffusionFromCheckpoint`, as `ldmae sample` rebuilds it.
 */
import {
  decodeCheckpointFolderHost,
  decodeCheckpointHost,
  type LatentNormalization,
  parseCheckpointMeta,
  parseSafetensorsHeader,
} from '@ldmae/core';
import {
  type DiT,
  type LatentDiffusion,
  type LdmCheckpointInfo,
  type LightningDiT,
  type LoadedLatentDiffusion,
  latentDiffusionFromCheckpoint,
} from '@ldmae/diffusion';
import { loadVMAE, type VMAE } from '@ldmae/vmae';

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

/** A loaded checkpoint; dispose it with {@link disposeLoaded}. */
export interface LoadedCheckpoint {
  vmae: VMAE;
  denoiser: DiT | LightningDiT;
  /** What the diffusion model was trained on (its checkpoint's info, see @ldmae/diffusion). */
  info: LdmCheckpointInfo;
  /** The VMAE, the denoiser and the checkpoint's normalisation with Euler, shift 0.3. */
  pipeline: LatentDiffusion;
  /** Releases the denoiser and the pipeline's scheduler. */
  ldm: LoadedLatentDiffusion;
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
      vmae,
      denoiser: ldm.denoiser,
      info: ldm.info,
      pipeline: ldm.pipeline,
      ldm,
      step: ldm.step,
      normalizationFrom,
    };
  } catch (e) {
    vmae.dispose();
    const msg = (e as Error).message.replace('latentDiffusionFromCheckpoint: ', '');
    throw new Error(`'${bundle.ldm.path}': ${msg}`);
  }
}

/** Release the models of a loaded checkpoint. */
export function disposeLoaded(c: LoadedCheckpoint | null): void {
  c?.vmae.dispose();
  c?.ldm.dispose();
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
