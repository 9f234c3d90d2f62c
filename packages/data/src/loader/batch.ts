/**
 * Turning a list of items into one packed batch: read, transform, check shapes, pack to float32.
 * The same code runs on the main thread and inside prefetch workers.
 */
import { createRng } from '@ldmae/core';
import { DataError, type Dataset, type OnError } from '../dataset.js';
import { BYTE_TO_UNIT, type Image, type Sample } from '../image.js';
import type { Transform } from '../transforms/transforms.js';

/** Axis order of image batches. The models use NHWC; NCHW is offered for export only. */
export type Layout = 'NHWC' | 'NCHW';

/** One item of a planned batch: its data-set index and the seed of its augmentations. */
export interface BatchItem {
  index: number;
  seed: number;
}

/** An item left out of a batch because it could not be read (data set with onError 'skip'). */
export interface SkippedItem {
  index: number;
  file?: string;
  message: string;
}

/** A packed batch on the CPU side. */
export interface BatchData {
  /** Values in [-1, 1], `shape` order. */
  images: Float32Array;
  /** [B, H, W, C] for NHWC, [B, C, H, W] for NCHW. */
  shape: [number, number, number, number];
  /** Labels of the included items, or null for unlabelled data. */
  labels: Int32Array | null;
  /** Data-set indices of the included items, in batch order. */
  indices: Int32Array;
  skipped: SkippedItem[];
}

function describe(index: number, s: Sample | undefined): string {
  return s?.file ? `item ${index} (${s.file})` : `item ${index}`;
}

/** Copy one image into a batch buffer at item slot `b`, converting bytes to [-1, 1]. */
export function packImage(image: Image, out: Float32Array, b: number, layout: Layout): void {
  const { data, height, width, channels: c } = image;
  const per = height * width * c;
  const base = b * per;
  const bytes = data instanceof Uint8Array;
  if (layout === 'NHWC') {
    if (bytes) for (let i = 0; i < per; i++) out[base + i] = BYTE_TO_UNIT[data[i]];
    else out.set(data, base);
    return;
  }
  const hw = height * width;
  for (let p = 0; p < hw; p++) {
    for (let ch = 0; ch < c; ch++) {
      const v = data[p * c + ch];
      out[base + ch * hw + p] = bytes ? BYTE_TO_UNIT[v] : v;
    }
  }
}

/**
 * Read, transform and pack `items`. Items whose read fails with a {@link DataError} are skipped
 * when `onError` is 'skip'; any other failure rejects.
 */
export async function buildBatch(
  dataset: Dataset,
  items: readonly BatchItem[],
  transform: Transform | null,
  layout: Layout,
  onError: OnError,
): Promise<BatchData> {
  const settled = await Promise.allSettled(items.map((it) => dataset.get(it.index)));
  const skipped: SkippedItem[] = [];
  const kept: { index: number; sample: Sample; image: Image }[] = [];
  let ref: { index: number; sample: Sample; image: Image } | undefined;
  for (let k = 0; k < items.length; k++) {
    const r = settled[k];
    const { index, seed } = items[k];
    if (r.status === 'rejected') {
      const e = r.reason;
      if (onError === 'skip' && e instanceof DataError) {
        skipped.push({ index, file: e.file, message: e.message });
        continue;
      }
      throw e;
    }
    const sample = r.value;
    const image = transform ? transform.apply(sample.image, createRng(seed)) : sample.image;
    if (!ref) ref = { index, sample, image };
    else if (
      image.height !== ref.image.height ||
      image.width !== ref.image.width ||
      image.channels !== ref.image.channels
    ) {
      throw new Error(
        `loader: ${describe(index, sample)} is ${image.height}x${image.width}x${image.channels} after the transform but ` +
          `${describe(ref.index, ref.sample)} is ${ref.image.height}x${ref.image.width}x${ref.image.channels}; ` +
          'add a resize / centerCrop (and toRgb) to the transform so that every image has the same shape',
      );
    }
    if ((sample.label === undefined) !== (ref.sample.label === undefined)) {
      throw new Error(
        `loader: ${describe(index, sample)} and ${describe(ref.index, ref.sample)} disagree on having a label`,
      );
    }
    kept.push({ index, sample, image });
  }
  if (!ref) {
    throw new DataError(
      `loader: every item of the batch failed to load (${skipped.length}): ${skipped.map((s) => s.message).join('; ')}`,
    );
  }
  const { height: h, width: w, channels: c } = ref.image;
  const images = new Float32Array(kept.length * h * w * c);
  kept.forEach((k, b) => {
    packImage(k.image, images, b, layout);
  });
  const labelled = ref.sample.label !== undefined;
  return {
    images,
    shape: layout === 'NHWC' ? [kept.length, h, w, c] : [kept.length, c, h, w],
    labels: labelled ? Int32Array.from(kept, (k) => k.sample.label!) : null,
    indices: Int32Array.from(kept, (k) => k.index),
    skipped,
  };
}
