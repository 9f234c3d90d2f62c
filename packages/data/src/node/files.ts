/**
 * Array files as data sets: IDX (MNIST / Fashion-MNIST, plain or gzipped), .npy and .npz.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostTensor, type HostTensorDict, parseNpy, parseNpz } from '@ldmae/core';
import { ArrayDataset } from '../dataset.js';
import { readIdx } from '../formats/idx.js';
import { type ArraysOptions, arrays } from '../sources/arrays.js';

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path} (${(e as Error).message})`);
  }
}

/** Read an IDX file (gzipped or plain) as an array. */
export async function readIdxFile(path: string): Promise<HostTensor> {
  return readIdx(await readBytes(path), path);
}

/** Options of {@link idx}. */
export interface IdxOptions {
  /** Path of the matching labels file (IDX, rank 1). */
  labels?: string;
  /** Class names (index = label). */
  classes?: readonly string[];
}

/**
 * An IDX images file ([N, H, W] grey or [N, H, W, C], uint8) as a data set, with optional labels.
 * @throws when the files are not IDX, not uint8 images, or the label count differs
 */
export async function idx(imagesPath: string, opts: IdxOptions = {}): Promise<ArrayDataset> {
  const images = await readIdxFile(imagesPath);
  if (images.dtype !== 'uint8' || (images.shape.length !== 3 && images.shape.length !== 4)) {
    throw new Error(
      `idx: ${imagesPath} holds ${images.dtype} [${images.shape}]; expected uint8 images [N, H, W] or [N, H, W, C]`,
    );
  }
  const [n, h, w, c = 1] = images.shape;
  let labels: Int32Array | null = null;
  if (opts.labels) {
    const l = await readIdxFile(opts.labels);
    if (l.shape.length !== 1 || l.shape[0] !== n) {
      throw new Error(
        `idx: ${opts.labels} has shape [${l.shape}], expected [${n}] (one label per image of ${imagesPath})`,
      );
    }
    labels = Int32Array.from(l.data as ArrayLike<number>);
  }
  return new ArrayDataset(images.data as Uint8Array, [n, h, w, c], labels, opts.classes);
}

/** Where Debian's `dataset-fashion-mnist` package installs its files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST class names (index = label). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/**
 * Fashion-MNIST (60,000 train / 10,000 test, 28x28 grey) from the standard gzipped IDX files.
 * @param opts.split 'train' (default) or 'test'
 * @param opts.dir folder of the files (default Debian's /usr/share/datasets/fashion-mnist)
 */
export async function fashionMnist(
  opts: { split?: 'train' | 'test'; dir?: string } = {},
): Promise<ArrayDataset> {
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test')
    throw new RangeError(`fashionMnist: split must be 'train' or 'test', got '${split}'`);
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  if (!(await stat(images).catch(() => null))) {
    throw new Error(
      `fashionMnist: ${images} not found; install Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist) or pass opts.dir`,
    );
  }
  return idx(images, { labels: join(dir, `${prefix}-labels-idx1-ubyte.gz`), classes: FASHION_MNIST_CLASSES });
}

/** Read a .npy or .npz file (told apart by content). An .npy gives one array under the key 'arr_0'. */
export async function readArraysFile(path: string): Promise<HostTensorDict> {
  const bytes = await readBytes(path);
  if (bytes[0] === 0x93 && bytes[1] === 0x4e) return { arr_0: parseNpy(bytes, {}, path) };
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return parseNpz(bytes).tensors;
  throw new Error(`readArraysFile: ${path} is neither a .npy nor a .npz file`);
}

/** A .npy (images only) or .npz (images and labels) file as a data set; see {@link arrays}. */
export async function arraysFile(path: string, opts: ArraysOptions = {}): Promise<ArrayDataset> {
  return arrays(await readArraysFile(path), opts);
}
