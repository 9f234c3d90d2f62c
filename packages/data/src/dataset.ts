/**
 * The data-set contract and the in-memory data set, subsets and train / test splits.
 */
import { createRng } from '@ldmae/core';
import { checkImage, type Image, type Sample } from './image.js';

/** What to do with an item that cannot be read or decoded. */
export type OnError = 'throw' | 'skip';

/**
 * A random-access collection of samples. Random access (rather than a stream) is what makes seeded
 * shuffling and exact mid-epoch resume possible.
 */
export interface Dataset {
  /** Number of items. */
  readonly length: number;
  /** Class names, index = label, when the data set is labelled. */
  readonly classes?: readonly string[];
  /** All labels up front (cheap), when known without decoding images; used by stratified splits. */
  readonly labels?: Int32Array | null;
  /** Policy for unreadable items, honoured by the loader (default 'throw'). */
  readonly onError?: OnError;
  /** Item `index` (0 <= index < length). Rejects with a {@link DataError} naming the file for bad items. */
  get(index: number): Promise<Sample>;
  /** Plain data from which a worker thread rebuilds this data set; undefined when it cannot. */
  toSpec?(): DatasetSpec | undefined;
}

/** Serialisable description of a data set, for worker threads. */
export type DatasetSpec =
  | {
      kind: 'arrays';
      data: Uint8Array | Float32Array;
      shape: [number, number, number, number];
      labels: Int32Array | null;
      classes?: readonly string[];
    }
  | {
      kind: 'files';
      files: string[];
      labels: Int32Array | null;
      classes?: readonly string[];
      mode: ColorMode;
      onError: OnError;
      /** Decode limit in pixels (absent: the default). */
      maxPixels?: number;
    }
  | { kind: 'subset'; base: DatasetSpec; indices: Int32Array };

/** Colour handling of decoded files: 'rgb' (torchvision's default loader), 'grey', or as stored. */
export type ColorMode = 'rgb' | 'grey' | 'keep';

/** An item that could not be read: carries the file (or index) so the message names it. */
export class DataError extends Error {
  readonly file: string | undefined;
  readonly index: number | undefined;
  constructor(message: string, opts: { file?: string; index?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'DataError';
    this.file = opts.file;
    this.index = opts.index;
  }
}

/** Throw a RangeError unless `index` is a valid item index of `ds`. */
export function checkIndex(index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`index must be an integer in [0, ${length}), got ${index}`);
  }
}

/**
 * Images held in one array [N, H, W, C] (uint8 bytes, or float32 in [-1, 1]) with optional labels.
 * `get` returns views into the array (transforms never modify their input).
 */
export class ArrayDataset implements Dataset {
  readonly length: number;
  readonly labels: Int32Array | null;
  readonly classes?: readonly string[];
  readonly shape: [number, number, number, number];
  private readonly data: Uint8Array | Float32Array;

  /**
   * @param data pixel values, N*H*W*C of them
   * @param shape [N, H, W, C]
   * @param labels N integer labels, or null
   * @param classes class names (index = label)
   */
  constructor(
    data: Uint8Array | Float32Array,
    shape: readonly [number, number, number, number],
    labels: Int32Array | null = null,
    classes?: readonly string[],
  ) {
    if (!(data instanceof Uint8Array || data instanceof Float32Array)) {
      throw new TypeError(
        'ArrayDataset: data must be a Uint8Array (bytes) or a Float32Array (values in [-1, 1])',
      );
    }
    if (
      shape.length !== 4 ||
      shape.some((d) => !Number.isInteger(d) || d < 0) ||
      shape.slice(1).some((d) => d === 0)
    ) {
      throw new RangeError(`ArrayDataset: shape must be [N, H, W, C] with positive H, W, C, got [${shape}]`);
    }
    const [n, h, w, c] = shape;
    if (n === 0) throw new RangeError('ArrayDataset: the data set is empty (N = 0)');
    if (data.length !== n * h * w * c) {
      throw new RangeError(
        `ArrayDataset: data has ${data.length} values, shape [${shape}] needs ${n * h * w * c}`,
      );
    }
    if (labels !== null) {
      if (!(labels instanceof Int32Array))
        throw new TypeError('ArrayDataset: labels must be an Int32Array or null');
      if (labels.length !== n) throw new RangeError(`ArrayDataset: ${labels.length} labels for ${n} images`);
    }
    this.data = data;
    this.shape = [n, h, w, c];
    this.length = n;
    this.labels = labels;
    if (classes) this.classes = classes;
  }

  /** Item `index` synchronously (a view, not a copy). */
  getSync(index: number): Sample {
    checkIndex(index, this.length);
    const [, h, w, c] = this.shape;
    const per = h * w * c;
    const image: Image = {
      data: this.data.subarray(index * per, (index + 1) * per),
      height: h,
      width: w,
      channels: c,
    };
    return this.labels ? { image, label: this.labels[index] } : { image };
  }

  get(index: number): Promise<Sample> {
    try {
      return Promise.resolve(this.getSync(index));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  toSpec(): DatasetSpec {
    // Structured cloning copies a view's whole buffer, so send a view of a larger buffer as a copy.
    const whole = this.data.byteOffset === 0 && this.data.byteLength === this.data.buffer.byteLength;
    const data = whole ? this.data : this.data.slice();
    return { kind: 'arrays', data, shape: this.shape, labels: this.labels, classes: this.classes };
  }
}

/** Build an {@link ArrayDataset} from separate images (all the same shape). */
export function fromImages(
  images: readonly Image[],
  labels?: readonly number[],
  classes?: readonly string[],
): ArrayDataset {
  if (!Array.isArray(images) || images.length === 0)
    throw new RangeError('fromImages: images must be a non-empty array');
  const first = images[0];
  checkImage(first, 'images[0]');
  const float = first.data instanceof Float32Array;
  const per = first.data.length;
  const data = float ? new Float32Array(per * images.length) : new Uint8Array(per * images.length);
  images.forEach((im, i) => {
    checkImage(im, `images[${i}]`);
    if (im.height !== first.height || im.width !== first.width || im.channels !== first.channels) {
      throw new RangeError(
        `fromImages: images[${i}] is ${im.height}x${im.width}x${im.channels}, images[0] is ${first.height}x${first.width}x${first.channels}`,
      );
    }
    if (im.data instanceof Float32Array !== float)
      throw new TypeError(`fromImages: images[${i}] mixes uint8 and float32 data`);
    data.set(im.data, i * per);
  });
  if (labels && labels.length !== images.length) {
    throw new RangeError(`fromImages: ${labels.length} labels for ${images.length} images`);
  }
  return new ArrayDataset(
    data,
    [images.length, first.height, first.width, first.channels],
    labels ? Int32Array.from(labels) : null,
    classes,
  );
}

/** The items of `base` at `indices`, in that order. */
export class SubsetDataset implements Dataset {
  readonly length: number;
  readonly classes?: readonly string[];
  readonly labels: Int32Array | null;
  readonly onError?: OnError;
  readonly indices: Int32Array;

  constructor(
    readonly base: Dataset,
    indices: ArrayLike<number>,
  ) {
    const idx = Int32Array.from(indices);
    for (const i of idx) checkIndex(i, base.length);
    this.indices = idx;
    this.length = idx.length;
    if (base.classes) this.classes = base.classes;
    this.onError = base.onError;
    this.labels = base.labels ? idx.map((i) => base.labels![i]) : null;
  }

  get(index: number): Promise<Sample> {
    try {
      checkIndex(index, this.length);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.base.get(this.indices[index]);
  }

  toSpec(): DatasetSpec | undefined {
    const base = this.base.toSpec?.();
    return base ? { kind: 'subset', base, indices: this.indices } : undefined;
  }
}

/** The items of `ds` at `indices`. */
export function subset(ds: Dataset, indices: ArrayLike<number>): SubsetDataset {
  return new SubsetDataset(ds, indices);
}

/** Options of {@link trainTestSplit}. */
export interface SplitOptions {
  /** Fraction of items for the test split (default 0.1); ignored when `testSize` is given. */
  testFraction?: number;
  /** Exact number of test items. */
  testSize?: number;
  /** Seed of the split (default 0). */
  seed?: number;
  /** Keep class proportions (needs `ds.labels`; default false). */
  stratify?: boolean;
}

/**
 * A seeded, disjoint train / test split. With `stratify`, each class contributes
 * round(testFraction * classCount) items to the test split.
 */
export function trainTestSplit(
  ds: Dataset,
  opts: SplitOptions = {},
): { train: SubsetDataset; test: SubsetDataset } {
  const n = ds.length;
  const frac = opts.testFraction ?? 0.1;
  if (opts.testSize === undefined && !(frac >= 0 && frac <= 1)) {
    throw new RangeError(`trainTestSplit: testFraction must be in [0, 1], got ${frac}`);
  }
  if (
    opts.testSize !== undefined &&
    (!Number.isInteger(opts.testSize) || opts.testSize < 0 || opts.testSize > n)
  ) {
    throw new RangeError(`trainTestSplit: testSize must be an integer in [0, ${n}], got ${opts.testSize}`);
  }
  const rng = createRng(opts.seed ?? 0);
  const isTest = new Uint8Array(n);
  if (opts.stratify) {
    if (!ds.labels)
      throw new Error('trainTestSplit: stratify needs a data set with labels known up front (ds.labels)');
    const byClass = new Map<number, number[]>();
    ds.labels.forEach((l, i) => {
      const list = byClass.get(l) ?? [];
      list.push(i);
      byClass.set(l, list);
    });
    const f = opts.testSize !== undefined ? opts.testSize / Math.max(n, 1) : frac;
    for (const key of [...byClass.keys()].sort((a, b) => a - b)) {
      const members = byClass.get(key)!;
      const perm = rng.permutation(members.length);
      const k = Math.round(f * members.length);
      for (let j = 0; j < k; j++) isTest[members[perm[j]]] = 1;
    }
  } else {
    const perm = rng.permutation(n);
    const k = opts.testSize ?? Math.round(frac * n);
    for (let j = 0; j < k; j++) isTest[perm[j]] = 1;
  }
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < n; i++) (isTest[i] ? test : train).push(i);
  return { train: subset(ds, train), test: subset(ds, test) };
}
