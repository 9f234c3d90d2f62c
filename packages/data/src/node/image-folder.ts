/**
 * Folders of PNG / JPEG images as data sets, with torchvision ImageFolder's class labelling.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkImageBytes, checkImageSize, maxPixelsOption, readImageHeader } from '../codecs/limits.js';
import {
  type ColorMode,
  checkIndex,
  DataError,
  type Dataset,
  type DatasetSpec,
  type OnError,
} from '../dataset.js';
import type { Image, Sample } from '../image.js';
import { decodeImage } from './codecs.js';

/** File extensions read by default (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** Options of {@link imageFolder}. */
export interface ImageFolderOptions {
  /**
   * Label images by the name of their top-level sub-folder, classes sorted by name (torchvision's
   * ImageFolder). Files directly in `dir` are then ignored. Default false (unlabelled).
   */
  classesFromSubdirs?: boolean;
  /** Descend into sub-folders (default: true with classesFromSubdirs, as torchvision does; else false). */
  recursive?: boolean;
  /** 'rgb' (default, like torchvision's loader), 'grey', or 'keep' as stored. */
  mode?: ColorMode;
  /** Unreadable or corrupt files: 'throw' (default) fails the batch naming the file; 'skip' leaves them out. */
  onError?: OnError;
  /** Extensions to include (default .png, .jpg, .jpeg). */
  extensions?: readonly string[];
  /** Custom decoder (for example one built on sharp); main thread only, so no worker prefetch. */
  decode?: (bytes: Uint8Array, file: string) => Image | Promise<Image>;
  /**
   * Refuse images with more pixels than this, from the file's header, before decoding (default
   * `DEFAULT_MAX_PIXELS`, 8192 x 8192; `Infinity` turns it off). With a custom `decode`, PNG / JPEG
   * headers are still checked. A refused file is a {@link DataError} naming it (left out with onError: 'skip').
   */
  maxPixels?: number;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function listImages(dir: string, recursive: boolean, exts: readonly string[]): Promise<string[]> {
  // Sorted like torchvision: by directory path, then by file name.
  const found: [string, string][] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const full = join(d, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(full).catch(() => null);
        isDir = !!s?.isDirectory();
        isFile = !!s?.isFile();
      }
      if (isDir && recursive) await walk(full);
      else if (isFile && exts.some((x) => e.name.toLowerCase().endsWith(x))) found.push([d, e.name]);
    }
  };
  await walk(dir);
  found.sort((a, b) => byCodePoint(a[0], b[0]) || byCodePoint(a[1], b[1]));
  return found.map(([d, f]) => join(d, f));
}

/** Image files read and decoded on demand. */
export class FileImageDataset implements Dataset {
  readonly length: number;
  readonly files: readonly string[];
  readonly labels: Int32Array | null;
  readonly classes?: readonly string[];
  readonly mode: ColorMode;
  readonly onError: OnError;
  /** The decode limit in pixels (see {@link ImageFolderOptions.maxPixels}). */
  readonly maxPixels: number;
  private readonly decode?: (bytes: Uint8Array, file: string) => Image | Promise<Image>;

  constructor(
    files: readonly string[],
    labels: Int32Array | null,
    opts: {
      classes?: readonly string[];
      mode?: ColorMode;
      onError?: OnError;
      decode?: ImageFolderOptions['decode'];
      maxPixels?: number;
    } = {},
  ) {
    if (files.length === 0) throw new RangeError('FileImageDataset: files is empty');
    if (labels && labels.length !== files.length)
      throw new RangeError(`FileImageDataset: ${labels.length} labels for ${files.length} files`);
    const mode = opts.mode ?? 'rgb';
    if (!['rgb', 'grey', 'keep'].includes(mode))
      throw new RangeError(`imageFolder: mode must be rgb, grey or keep, got '${mode}'`);
    const onError = opts.onError ?? 'throw';
    if (onError !== 'throw' && onError !== 'skip')
      throw new RangeError(`imageFolder: onError must be 'throw' or 'skip', got '${onError}'`);
    this.files = files;
    this.length = files.length;
    this.labels = labels;
    if (opts.classes) this.classes = opts.classes;
    this.mode = mode;
    this.onError = onError;
    this.maxPixels = maxPixelsOption(opts, 'imageFolder');
    this.decode = opts.decode;
  }

  async get(index: number): Promise<Sample> {
    checkIndex(index, this.length);
    const file = this.files[index];
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new DataError(`imageFolder: cannot read ${file} (${(e as Error).message})`, {
        file,
        index,
        cause: e,
      });
    }
    let image: Image;
    if (this.decode) {
      const header = readImageHeader(bytes);
      if (header) checkImageSize(header, this.maxPixels, file, 'imageFolder');
      try {
        image = await this.decode(bytes, file);
      } catch (e) {
        throw new DataError(`imageFolder: cannot decode ${file} (${(e as Error).message})`, {
          file,
          index,
          cause: e,
        });
      }
    } else {
      image = decodeImage(bytes, this.mode, file, { maxPixels: this.maxPixels });
    }
    return this.labels ? { image, label: this.labels[index], file } : { image, file };
  }

  toSpec(): DatasetSpec | undefined {
    if (this.decode) return undefined;
    return {
      kind: 'files',
      files: [...this.files],
      labels: this.labels,
      classes: this.classes,
      mode: this.mode,
      onError: this.onError,
      maxPixels: this.maxPixels,
    };
  }
}

/**
 * A folder of PNG / JPEG images (RGB or grey, any size). Nothing is decoded up front: files are
 * read when the loader asks for them, so give the loader a transform that makes sizes equal.
 * @throws when the folder is missing, holds no images, or a class folder is empty
 */
export async function imageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<FileImageDataset> {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new TypeError('imageFolder: dir must be a folder path');
  const s = await stat(dir).catch(() => null);
  if (!s?.isDirectory()) throw new Error(`imageFolder: ${dir} is not a folder`);
  const exts = (opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
  const what = `${exts.join(' / ')} files`;
  if (!opts.classesFromSubdirs) {
    const recursive = opts.recursive ?? false;
    const files = await listImages(dir, recursive, exts);
    if (files.length === 0)
      throw new Error(
        `imageFolder: no ${what} in ${dir}${recursive ? ' or its sub-folders' : ' (recursive: false)'}`,
      );
    return new FileImageDataset(files, null, opts);
  }
  const recursive = opts.recursive ?? true;
  const entries = await readdir(dir, { withFileTypes: true });
  const classes: string[] = [];
  for (const e of entries) {
    if (
      e.isDirectory() ||
      (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => null))?.isDirectory())
    )
      classes.push(e.name);
  }
  classes.sort(byCodePoint);
  if (classes.length === 0)
    throw new Error(`imageFolder: ${dir} has no sub-folders to take classes from (classesFromSubdirs: true)`);
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  for (let c = 0; c < classes.length; c++) {
    const list = await listImages(join(dir, classes[c]), recursive, exts);
    if (list.length === 0) empty.push(classes[c]);
    for (const f of list) {
      files.push(f);
      labels.push(c);
    }
  }
  if (empty.length > 0)
    throw new Error(`imageFolder: no ${what} for the classes ${empty.join(', ')} in ${dir}`);
  return new FileImageDataset(files, Int32Array.from(labels), { ...opts, classes });
}

/** What {@link checkImageFiles} found. */
export interface ImageFilesCheck {
  /** Files checked (in dataset order, from the first). */
  checked: number;
  /** Files in the dataset. */
  total: number;
  /** Whether every file was checked (false when the time limit stopped the scan). */
  complete: boolean;
  /** Wall time of the scan in seconds. */
  seconds: number;
  /** Files that cannot be used: dataset index, path and why. */
  bad: { index: number; file: string; error: string }[];
}

/**
 * A quick check of an image folder's files before training, so that a bad file is found at the start
 * rather than when its batch is built, possibly hours in: each file is read and its header checked
 * (a PNG or JPEG, within the dataset's `maxPixels`), and a PNG's pixel data inflated to the size its
 * header needs. Nothing is decoded to pixels. Stops after `seconds` (default 10) and says how far it
 * got; a file that passes can still fail to decode if its compressed data is damaged further on.
 */
export async function checkImageFiles(
  dataset: FileImageDataset,
  opts: { seconds?: number } = {},
): Promise<ImageFilesCheck> {
  if (!(dataset instanceof FileImageDataset))
    throw new TypeError('checkImageFiles: dataset must be an image folder (imageFolder(...))');
  const seconds = opts.seconds ?? 10;
  if (!(seconds > 0)) throw new RangeError(`checkImageFiles: seconds must be > 0, got ${seconds}`);
  const t0 = performance.now();
  const bad: ImageFilesCheck['bad'] = [];
  let checked = 0;
  for (const file of dataset.files) {
    if ((performance.now() - t0) / 1000 > seconds) break;
    try {
      const bytes = await readFile(file);
      if (!readImageHeader(bytes))
        throw new Error(`checkImageFiles: '${file}' is not a PNG or JPEG file (no image header)`);
      checkImageBytes(bytes, dataset.maxPixels, file, 'checkImageFiles');
    } catch (e) {
      bad.push({ index: checked, file, error: (e as Error).message });
    }
    checked++;
  }
  return {
    checked,
    total: dataset.length,
    complete: checked === dataset.length,
    seconds: (performance.now() - t0) / 1000,
    bad,
  };
}
