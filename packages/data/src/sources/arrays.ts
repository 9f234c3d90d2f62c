/**
 * Images held in arrays (for example parsed .npy / .npz files) as a data set.
 */
import { elementReader, type HostTensor, type HostTensorDict, isHostTensor, shapeSize } from '@ldmae/core';
import { ArrayDataset } from '../dataset.js';

function checkHost(t: HostTensor, name: string): void {
  if (!isHostTensor(t)) throw new TypeError(`arrays: ${name} must be a host tensor {dtype, shape, data}`);
  const n = shapeSize(t.shape, `arrays: ${name}`);
  if (t.data.length !== n)
    throw new RangeError(`arrays: ${name} has ${t.data.length} elements but shape [${t.shape}] needs ${n}`);
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    throw new TypeError(
      `arrays: ${name} is ${t.dtype}; read it with upcastHalf (the default of parseNpy) or cast it to float32`,
    );
  }
}

/** Options of {@link arrays}. */
export interface ArraysOptions {
  /** Axis order of a rank-4 images array; 'auto' (default) reads [N,H,W,C] when the last axis is 1 or 3, else [N,C,H,W] when axis 1 is. */
  layout?: 'auto' | 'NHWC' | 'NCHW';
  /** Value range of float images, mapped to [-1, 1] (default [0, 1], the NumPy / scikit-image convention). */
  range?: [number, number];
  /** Key of the images in an npz record (default: the first of images, x, x_train, data, arr_0). */
  imagesKey?: string;
  /** Key of the labels in an npz record (default: the first of labels, y, y_train, targets, arr_1 present). */
  labelsKey?: string;
  /** Class names (index = label). */
  classes?: readonly string[];
}

/** What {@link arrays} accepts: one images array, a record of named arrays (npz), or images + labels. */
export type ArraysSource = HostTensor | HostTensorDict | { images: HostTensor; labels?: HostTensor | null };

/**
 * A data set from arrays (host tensors, for example from `parseNpz` / `parseNpy` of @ldmae/core):
 * images [N, H, W] (grey), [N, H, W, C] or [N, C, H, W]; uint8 bytes, other integers in 0..255, or
 * floats in `range`; labels [N] of integers.
 */
export function arrays(source: ArraysSource, opts: ArraysOptions = {}): ArrayDataset {
  let images: HostTensor;
  let labels: HostTensor | null | undefined;
  if (isHostTensor(source)) {
    images = source;
  } else if (source && typeof source === 'object') {
    const rec = source as Record<string, HostTensor | null>;
    const keys = Object.keys(rec);
    const ik = opts.imagesKey ?? ['images', 'x', 'x_train', 'data', 'arr_0'].find((k) => k in rec);
    if (!ik || !rec[ik]) {
      throw new Error(`arrays: no images array found (keys: ${keys.join(', ')}); pass opts.imagesKey`);
    }
    images = rec[ik]!;
    const lk = opts.labelsKey ?? ['labels', 'y', 'y_train', 'targets', 'arr_1'].find((k) => k in rec);
    if (opts.labelsKey && !rec[opts.labelsKey])
      throw new Error(`arrays: labelsKey '${opts.labelsKey}' not found (keys: ${keys.join(', ')})`);
    labels = lk ? rec[lk] : null;
  } else {
    throw new TypeError(
      'arrays: source must be a host tensor, a record of host tensors (npz) or {images, labels?}',
    );
  }
  checkHost(images, 'images');
  const shape = images.shape;
  let n: number;
  let h: number;
  let w: number;
  let c: number;
  let nchw = false;
  if (shape.length === 3) {
    [n, h, w] = shape;
    c = 1;
  } else if (shape.length === 4) {
    const layout = opts.layout ?? 'auto';
    if (
      layout === 'NCHW' ||
      (layout === 'auto' && !(shape[3] === 1 || shape[3] === 3) && (shape[1] === 1 || shape[1] === 3))
    ) {
      nchw = true;
      [n, c, h, w] = shape;
    } else if (layout === 'NHWC' || shape[3] === 1 || shape[3] === 3) {
      [n, h, w, c] = shape;
    } else {
      throw new Error(
        `arrays: cannot tell the channel axis of images with shape [${shape}]; pass opts.layout 'NHWC' or 'NCHW'`,
      );
    }
  } else {
    throw new RangeError(`arrays: images must have shape [N,H,W], [N,H,W,C] or [N,C,H,W], got [${shape}]`);
  }
  const total = n * h * w * c;
  const float = images.dtype === 'float32' || images.dtype === 'float64';
  const out = float ? new Float32Array(total) : new Uint8Array(total);
  const [lo, hi] = opts.range ?? [0, 1];
  if (float && !(hi > lo))
    throw new RangeError(`arrays: range must be [lo, hi] with hi > lo, got [${lo}, ${hi}]`);
  const src = images.data;
  const read = elementReader(images);
  const value = (i: number): number => {
    const v = read(i);
    if (float) return (2 * (v - lo)) / (hi - lo) - 1;
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) {
      throw new RangeError(`arrays: integer images must hold values in 0..255, found ${v} at element ${i}`);
    }
    return v;
  };
  if (!nchw && images.dtype === 'uint8') {
    out.set(src as Uint8Array);
  } else if (!nchw) {
    for (let i = 0; i < total; i++) out[i] = value(i);
  } else {
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++)
        for (let p = 0; p < h * w; p++) out[b * h * w * c + p * c + ch] = value((b * c + ch) * h * w + p);
  }
  let lab: Int32Array | null = null;
  if (labels) {
    checkHost(labels, 'labels');
    if (labels.data.length !== n) {
      throw new RangeError(`arrays: labels have shape [${labels.shape}], expected [${n}] (one per image)`);
    }
    lab = new Int32Array(n);
    const readLabel = elementReader(labels);
    for (let i = 0; i < n; i++) {
      const v = readLabel(i);
      if (!Number.isInteger(v)) throw new RangeError(`arrays: labels must be integers, found ${v} at ${i}`);
      lab[i] = v;
    }
  }
  return new ArrayDataset(out, [n, h, w, c], lab, opts.classes);
}
