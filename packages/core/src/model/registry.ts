/**
 * Loading any model by what its file says it holds (as transformers.js' AutoModel does): packages
 * register a {@link ModelKind} per checkpoint format they write (`config.format` in the checkpoint's
 * metadata) and {@link ModelImporter}s for foreign formats (a reference `.pth`, a diffusers folder);
 * {@link ModelRegistry.load} reads a path (Node), bytes, a {@link FolderSource} or decoded host tensors
 * and builds the right model. A user's own model class registers the same way.
 */
import {
  decodeCheckpointFolderHost,
  decodeCheckpointHost,
  detectTensorFormat,
  type HostTensorDict,
  parseSafetensorsHeader,
} from '@ldmae/io';
import { CHECKPOINT_FORMAT, type CheckpointPayload } from '../train/checkpoint-payload.js';
import type { Autoencoder } from './autoencoder.js';
import { checkFolderEntryName, type FolderSource, type FolderStore, isFolderSource } from './folder.js';

/** Host tensors and string metadata, e.g. from `loadCheckpointHost` or `decodeCheckpointHost`. */
export interface StoredModel {
  tensors: HostTensorDict;
  metadata: Record<string, string>;
}

/**
 * Where a model comes from: a file or folder path (Node only), the bytes of a file, a folder
 * ({@link FolderSource}: `localFolder(path)`, `fetchFolder(url)`, `memoryFolder(files)`) or decoded host
 * tensors with their metadata.
 */
export type ModelSource = string | Uint8Array | FolderSource | StoredModel;

/** A validated LDMAE checkpoint handed to {@link ModelKind.fromCheckpoint}. */
export interface StoredCheckpoint extends StoredModel {
  /** The parsed `metadata.config` JSON object. */
  config: Record<string, unknown>;
  /** The format it declares (the kind's {@link ModelKind.format}). */
  format: string;
  /** Training step of a training checkpoint (metadata `step`), 0 for a saved model. */
  step: number;
  /** Where it was read from, for messages. */
  location: string;
}

/** Options passed through to a kind's loader; each kind documents the ones it reads. */
export type ModelLoadOptions = Readonly<Record<string, unknown>>;

/** One checkpoint format of a model family, registered with a {@link ModelRegistry}. */
export interface ModelKind<M> {
  /** The `config.format` its checkpoints declare, e.g. 'ldmae-vmae'. */
  format: string;
  /** What it is, for messages and listings, e.g. 'VMAE (@ldmae/vmae)'. */
  description: string;
  /** Whether `model` is one of this kind's models (used to save a model of unknown kind). */
  owns(model: unknown): boolean;
  /**
   * The model as a checkpoint payload: weights under `model.` and a `config` metadata entry whose
   * `format` is {@link format}. The caller owns (disposes) the tensors.
   */
  toPayload(model: M): CheckpointPayload;
  /** Build the model from a checkpoint of this format; the checkpoint's host tensors stay the caller's. */
  fromCheckpoint(checkpoint: StoredCheckpoint, opts: ModelLoadOptions): M | Promise<M>;
}

/** A file or folder in a foreign format, as an importer sees it. */
export interface ModelFileProbe {
  /** The file's bytes (a file source). */
  bytes?: Uint8Array;
  /** The folder (a folder source). */
  folder?: FolderSource;
  /** Path, URL or 'bytes', for messages and file-name checks. */
  location: string;
}

/** A reader of a foreign format (a reference PyTorch checkpoint, a diffusers folder, ...). */
export interface ModelImporter<M> {
  /** What it reads, for messages, e.g. "the authors' VMAE .pth (@ldmae/vmae)". */
  description: string;
  /** Whether the probe is in this format (look at names, headers, a config file; no model building). */
  detect(probe: ModelFileProbe): boolean | Promise<boolean>;
  load(probe: ModelFileProbe, opts: ModelLoadOptions): M | Promise<M>;
}

/** What {@link ModelRegistry.load} returns. */
export interface LoadedModel<M> {
  /** The model; the caller owns (disposes) it. */
  model: M;
  /** The checkpoint format, or the importer's description for a foreign file. */
  format: string;
  /** The kind's or importer's description. */
  description: string;
  /** Training step of a training checkpoint, 0 otherwise. */
  step: number;
  /** Where it was read from. */
  location: string;
}

/** Name of the file that makes a folder a pipeline: it lists the pipeline's parts by role. */
export const PIPELINE_FILE = 'pipeline.json';

/** Which registry reads which format, across all registries (for "use loadDenoiser" hints). */
const formatHomes = /* @__PURE__ */ new Map<string, string>();
/** Packages that register the formats LDMAE writes, for the "import it" hint. */
const FORMAT_PACKAGES: Record<string, string> = {
  'ldmae-vmae': '@ldmae/vmae',
  'ldmae-baseline': '@ldmae/baselines',
  'ldmae-denoiser': '@ldmae/diffusion',
};

type ResolvedPath = { bytes: Uint8Array; location: string } | FolderSource;
interface NodeFolders {
  resolve(path: string): Promise<ResolvedPath>;
  store(path: string): FolderStore;
}
let nodeFolders: NodeFolders | null = null;

/** Installed by core's Node entry: how a path becomes bytes or a folder. */
export function setNodeFolders(fns: NodeFolders): void {
  nodeFolders = fns;
}

const NEEDS_NODE =
  "paths need Node (@ldmae/core's Node entry); in a browser pass fetchFolder(url) or memoryFolder(files)";

/** A folder from a path (Node) or a {@link FolderSource} as it is; `where` names the caller in errors. */
export async function openFolder(source: string | FolderSource, where: string): Promise<FolderSource> {
  if (isFolderSource(source)) return source;
  if (typeof source !== 'string' || !source)
    throw new TypeError(`${where}: expected a folder path or a FolderSource, got ${typeof source}`);
  if (!nodeFolders) throw new Error(`${where}: ${NEEDS_NODE}`);
  const r = await nodeFolders.resolve(source);
  if (!isFolderSource(r)) throw new Error(`${where}: '${source}' is a file; expected a folder`);
  return r;
}

/** A writable folder from a path (Node) or a {@link FolderStore} as it is. */
export function openFolderStore(target: string | FolderStore, where: string): FolderStore {
  if (isFolderSource(target) && typeof (target as FolderStore).write === 'function')
    return target as FolderStore;
  if (typeof target !== 'string' || !target)
    throw new TypeError(`${where}: expected a folder path or a FolderStore (e.g. memoryFolder())`);
  if (!nodeFolders) throw new Error(`${where}: ${NEEDS_NODE}`);
  return nodeFolders.store(target);
}

const cap = (s: string) =>
  s.charAt(0).toUpperCase() + s.slice(1).replace(/-(\w)/g, (_, c) => c.toUpperCase());
const article = (s: string) => (/^[aeiou]/i.test(s) ? `an ${s}` : `a ${s}`);
const decoder = new TextDecoder();

function parseJsonObject(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : decoder.decode(bytes));
  } catch (e) {
    throw new Error(`${what} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** The LDMAE checkpoint in `bytes` (checked whole), or null when the bytes hold something else. */
function checkpointInBytes(bytes: Uint8Array, location: string, where: string): StoredModel | null {
  if (detectTensorFormat(bytes) !== 'safetensors') return null;
  let declared: string | undefined;
  try {
    declared = parseSafetensorsHeader(bytes).metadata.format;
  } catch (e) {
    throw new Error(`${where}: '${location}' is not a valid safetensors file: ${(e as Error).message}`);
  }
  if (declared !== CHECKPOINT_FORMAT) return null;
  try {
    return decodeCheckpointHost(bytes);
  } catch (e) {
    throw new Error(`${where}: '${location}' is a damaged LDMAE checkpoint: ${(e as Error).message}`);
  }
}

/** The LDMAE checkpoint folder's content (checked whole), or null when it has no meta.json. */
async function checkpointInFolder(folder: FolderSource, where: string): Promise<StoredModel | null> {
  const loc = folder.location;
  const meta = await folder.read('meta.json');
  if (!meta) return null;
  const m = parseJsonObject(meta, `${where}: '${loc}/meta.json'`);
  const name = m.weights;
  if (typeof name !== 'string')
    throw new Error(
      `${where}: '${loc}/meta.json' names no weights file (expected an LDMAE checkpoint folder)`,
    );
  checkFolderEntryName(name, `${where}: '${loc}/meta.json'`);
  const weights = await folder.read(name);
  if (!weights) throw new Error(`${where}: '${loc}/${name}', the weights meta.json names, is missing`);
  try {
    return decodeCheckpointFolderHost({
      meta,
      weights,
      metaPath: `${loc}/meta.json`,
      weightsPath: `${loc}/${name}`,
    });
  } catch (e) {
    throw new Error(`${where}: '${loc}' is a damaged LDMAE checkpoint folder: ${(e as Error).message}`);
  }
}

/** `source` as bytes, a folder or host tensors (a path resolved through Node); `where` names the caller. */
async function resolveSource(source: ModelSource, where: string): Promise<ResolvedPath | StoredModel> {
  if (typeof source === 'string') {
    if (!source) throw new TypeError(`${where}: source must be a path, bytes, a folder or host tensors`);
    if (!nodeFolders) throw new Error(`${where}: ${NEEDS_NODE}`);
    return nodeFolders.resolve(source);
  }
  if (source instanceof Uint8Array) return { bytes: source, location: 'bytes' };
  if (isFolderSource(source)) return source;
  const s = source as Partial<StoredModel> | null;
  if (s && typeof s === 'object' && typeof s.tensors === 'object' && typeof s.metadata === 'object')
    return s as StoredModel;
  throw new TypeError(
    `${where}: source must be a path (Node), a Uint8Array, a FolderSource or { tensors, metadata } host tensors`,
  );
}

/**
 * Read an LDMAE checkpoint (a `.safetensors` checkpoint file or a checkpoint folder) from any source:
 * a path (Node), bytes, a {@link FolderSource} or host tensors (returned as they are). Everything is
 * validated (structure, CRCs) and returned as host tensors; nothing is uploaded to tfjs. `where`
 * names the caller in errors.
 */
export async function readCheckpoint(
  source: ModelSource,
  where = 'readCheckpoint',
): Promise<StoredModel & { location: string }> {
  const src = await resolveSource(source, where);
  const not = (loc: string, what: string) =>
    new Error(`${where}: '${loc}' is not an LDMAE checkpoint (expected ${what})`);
  if (isFolderSource(src)) {
    const s = await checkpointInFolder(src, where);
    if (!s) throw not(src.location, 'a checkpoint folder with meta.json');
    return { ...s, location: src.location };
  }
  if ('bytes' in src) {
    const s = checkpointInBytes(src.bytes, src.location, where);
    if (!s) throw not(src.location, 'a .safetensors file saved by saveCheckpoint');
    return { ...s, location: src.location };
  }
  return { tensors: src.tensors, metadata: src.metadata, location: 'host tensors' };
}

/**
 * The kinds and importers of one model family ('autoencoder', 'denoiser'), and the loader that picks
 * among them by what a file declares.
 */
export class ModelRegistry<M> {
  private readonly byFormat = new Map<string, ModelKind<M>>();
  private readonly foreign: ModelImporter<M>[] = [];

  /**
   * @param what the family, in messages ('autoencoder')
   * @param formatOf the format a checkpoint config declares (default its `format` field); lets a
   *   family read older checkpoints that predate the field
   */
  constructor(
    readonly what: string,
    private readonly formatOf: (config: Record<string, unknown>) => string | undefined = (c) =>
      typeof c.format === 'string' ? c.format : undefined,
  ) {}

  /** Register (or replace) the kind of `kind.format`. */
  register(kind: ModelKind<M>): void {
    if (!kind || typeof kind.format !== 'string' || !kind.format)
      throw new TypeError(`register ${this.what} kind: kind.format must be a non-empty string`);
    for (const f of ['owns', 'toPayload', 'fromCheckpoint'] as const)
      if (typeof kind[f] !== 'function')
        throw new TypeError(`register ${this.what} kind '${kind.format}': ${f} must be a function`);
    const home = formatHomes.get(kind.format);
    if (home && home !== this.what)
      throw new Error(`register ${this.what} kind: format '${kind.format}' is already a ${home} format`);
    formatHomes.set(kind.format, this.what);
    this.byFormat.set(kind.format, kind);
  }

  /** Register an importer of a foreign format (tried in registration order; one per description). */
  registerImporter(importer: ModelImporter<M>): void {
    if (!importer || typeof importer.detect !== 'function' || typeof importer.load !== 'function')
      throw new TypeError(`register ${this.what} importer: detect and load must be functions`);
    const i = this.foreign.findIndex((x) => x.description === importer.description);
    if (i >= 0) this.foreign[i] = importer;
    else this.foreign.push(importer);
  }

  /** The registered kinds. */
  kinds(): ModelKind<M>[] {
    return [...this.byFormat.values()];
  }

  /** The registered importers. */
  importers(): ModelImporter<M>[] {
    return [...this.foreign];
  }

  /** The kind that owns `model`, or undefined. */
  kindOf(model: unknown): ModelKind<M> | undefined {
    return this.kinds().find((k) => k.owns(model));
  }

  /** `model` as a checkpoint payload of its kind (the caller disposes the tensors). */
  checkpointOf(model: M): CheckpointPayload {
    const kind = this.kindOf(model);
    if (!kind) {
      const name = (model as { name?: unknown })?.name;
      throw new Error(
        `save ${this.what}: no registered ${this.what} kind owns this model${typeof name === 'string' ? ` ('${name}')` : ''} (registered: ${this.listKinds()}); register its kind first`,
      );
    }
    return kind.toPayload(model);
  }

  /** The public door every load goes through, named in its errors ('loadAutoencoder', ...). */
  private get door(): string {
    return `load${cap(this.what)}`;
  }

  /**
   * Load a model from `source` (see {@link ModelSource}): an LDMAE checkpoint (file or folder) of a
   * registered kind, the matching part of a pipeline folder, or a foreign file an importer detects.
   * Everything is validated before the model is built; errors say what the source is and what was
   * expected.
   */
  async load(source: ModelSource, opts: ModelLoadOptions = {}): Promise<LoadedModel<M>> {
    const where = this.door;
    if (opts !== undefined && (typeof opts !== 'object' || opts === null))
      throw new TypeError(`${where}: options must be an object`);
    const src = await resolveSource(source, where);
    if (isFolderSource(src)) return this.fromFolder(src, opts);
    if ('bytes' in src) return this.fromBytes(src.bytes, src.location, opts);
    return this.fromStored(src, 'host tensors', opts);
  }

  private async fromBytes(
    bytes: Uint8Array,
    location: string,
    opts: ModelLoadOptions,
  ): Promise<LoadedModel<M>> {
    const stored = checkpointInBytes(bytes, location, this.door);
    return stored ? this.fromStored(stored, location, opts) : this.imported({ bytes, location }, opts);
  }

  private async fromFolder(folder: FolderSource, opts: ModelLoadOptions): Promise<LoadedModel<M>> {
    const where = this.door;
    const loc = folder.location;
    const stored = await checkpointInFolder(folder, where);
    if (stored) return this.fromStored(stored, loc, opts);
    const pipe = await folder.read(PIPELINE_FILE);
    if (pipe) {
      const p = parseJsonObject(pipe, `${where}: '${loc}/${PIPELINE_FILE}'`);
      const parts = p.parts as Record<string, unknown> | undefined;
      const file = parts?.[this.what];
      if (typeof file !== 'string')
        throw new Error(
          `${where}: the pipeline '${loc}' has no ${this.what} part (its ${PIPELINE_FILE} lists ${Object.keys(parts ?? {}).join(', ') || 'no parts'})`,
        );
      checkFolderEntryName(file, `${where}: '${loc}/${PIPELINE_FILE}'`);
      const bytes = await folder.read(file);
      if (!bytes) throw new Error(`${where}: '${loc}/${file}', the pipeline's ${this.what}, is missing`);
      return this.fromBytes(bytes, `${loc}/${file}`, opts);
    }
    return this.imported({ folder, location: loc }, opts);
  }

  private async fromStored(
    stored: StoredModel,
    location: string,
    opts: ModelLoadOptions,
  ): Promise<LoadedModel<M>> {
    const where = this.door;
    const raw = stored.metadata?.config;
    if (typeof raw !== 'string')
      throw new Error(
        `${where}: '${location}' is an LDMAE checkpoint without a config (expected one saved with its model's configuration)`,
      );
    const config = parseJsonObject(raw, `${where}: the config of '${location}'`);
    const format = this.formatOf(config);
    const kind = format === undefined ? undefined : this.byFormat.get(format);
    if (!kind) {
      const home = format === undefined ? undefined : formatHomes.get(format);
      if (home && home !== this.what)
        throw new Error(
          `${where}: '${location}' holds ${article(home)} (format '${format}'), not ${article(this.what)}: use load${cap(home)}`,
        );
      const pkg = format === undefined ? undefined : FORMAT_PACKAGES[format];
      throw new Error(
        format === undefined
          ? `${where}: '${location}' declares no format in its config (registered ${this.what} formats: ${this.listKinds()})`
          : `${where}: '${location}' is a checkpoint of format '${format}', which no registered ${this.what} kind reads (registered: ${this.listKinds()})${pkg ? `; import '${pkg}' so that it registers` : ''}`,
      );
    }
    const step = Number(stored.metadata.step ?? 0);
    const checkpoint: StoredCheckpoint = {
      tensors: stored.tensors,
      metadata: stored.metadata,
      config,
      format: kind.format,
      step: Number.isSafeInteger(step) && step > 0 ? step : 0,
      location,
    };
    const model = await kind.fromCheckpoint(checkpoint, opts);
    return { model, format: kind.format, description: kind.description, step: checkpoint.step, location };
  }

  private async imported(probe: ModelFileProbe, opts: ModelLoadOptions): Promise<LoadedModel<M>> {
    for (const imp of this.foreign) {
      if (!(await imp.detect(probe))) continue;
      const model = await imp.load(probe, opts);
      return {
        model,
        format: imp.description,
        description: imp.description,
        step: 0,
        location: probe.location,
      };
    }
    const what = probe.folder ? 'folder' : 'file';
    const readers = [
      `LDMAE ${this.what} checkpoints (${this.listKinds()})`,
      ...this.foreign.map((i) => i.description),
    ];
    throw new Error(
      `${this.door}: '${probe.location}' is not ${article(this.what)} checkpoint this package set reads (the ${what} is neither an LDMAE checkpoint nor a format an importer detects); readers: ${readers.join('; ')}`,
    );
  }

  private listKinds(): string {
    const k = this.kinds();
    return k.length ? k.map((x) => `'${x.format}' ${x.description}`).join(', ') : 'none';
  }
}

/** The autoencoder kinds: @ldmae/vmae and @ldmae/baselines register theirs when imported. */
// Pure: a bundle that never loads a model drops the registry and the file readers it reaches.
export const autoencoderRegistry: ModelRegistry<Autoencoder> = /* @__PURE__ */ new ModelRegistry<Autoencoder>(
  'autoencoder',
);

/**
 * Register an autoencoder kind, so {@link loadAutoencoder} reads its checkpoints and
 * {@link autoencoderCheckpoint} (and pipeline saving) writes them. Registering a format again replaces
 * it.
 *
 * @example
 * registerAutoencoderKind({
 *   format: 'my-ae', description: 'MyAE (my-package)',
 *   owns: (m) => m instanceof MyAE,
 *   toPayload: (m) => makeCheckpointPayload({ model: m, step: 0, config: { format: 'my-ae', ...m.config } }),
 *   fromCheckpoint: (c) => MyAE.fromStateDict(c.config, c.tensors),
 * });
 */
export function registerAutoencoderKind(kind: ModelKind<Autoencoder>): void {
  autoencoderRegistry.register(kind);
}

/** Register a reader of a foreign autoencoder format (see {@link ModelImporter}). */
export function registerAutoencoderImporter(importer: ModelImporter<Autoencoder>): void {
  autoencoderRegistry.registerImporter(importer);
}

/**
 * Load any autoencoder: an LDMAE checkpoint of a registered kind (a saved model or a training
 * checkpoint, as a `.safetensors` file or a checkpoint folder), the autoencoder of a pipeline folder,
 * or a foreign format a registered importer reads (the authors' VMAE `.pth`, a diffusers VAE folder).
 * Import the packages whose kinds you need first (`@ldmae/vmae`, `@ldmae/baselines`); `opts` go to
 * the kind's loader.
 *
 * @example
 * import '@ldmae/vmae';
 * import { loadAutoencoder } from '@ldmae/core';
 * const { model, format } = await loadAutoencoder('ldmae-out/quickstart/vmae');
 */
export function loadAutoencoder(
  source: ModelSource,
  opts: ModelLoadOptions = {},
): Promise<LoadedModel<Autoencoder>> {
  return autoencoderRegistry.load(source, opts);
}

/** An autoencoder of a registered kind as a checkpoint payload (the caller disposes the tensors). */
export function autoencoderCheckpoint(ae: Autoencoder): CheckpointPayload {
  return autoencoderRegistry.checkpointOf(ae);
}
