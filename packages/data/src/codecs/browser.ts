/**
 * Image codecs in the browser (and web workers): decoding through `createImageBitmap`, pixels read
 * and PNGs encoded through `OffscreenCanvas`.
 */
import type { ColorMode } from '../dataset.js';
import { checkImage, type Image, toUint8Image } from '../image.js';
import { greyToRgb, rgbToGrey } from '../transforms/geometry.js';
import { checkImageBytes, checkImageSize, type ImageDecodeOptions, maxPixelsOption } from './limits.js';

/** RGBA pixels (an `ImageData`'s) to an {@link Image}: alpha dropped; 'grey' uses Pillow's luma. */
export function imageFromRgba(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
  mode: ColorMode = 'rgb',
): Image {
  if (rgba.length !== width * height * 4) {
    throw new RangeError(
      `imageFromRgba: expected ${width * height * 4} RGBA bytes for ${width}x${height}, got ${rgba.length}`,
    );
  }
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  let grey = true;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    rgb[3 * i] = r;
    rgb[3 * i + 1] = g;
    rgb[3 * i + 2] = b;
    if (r !== g || g !== b) grey = false;
  }
  const image: Image = { data: rgb, height, width, channels: 3 };
  // Canvas pixels are always RGBA, so 'keep' reports grey when every pixel is neutral.
  if (mode === 'grey' || (mode === 'keep' && grey)) return rgbToGrey(image);
  return image;
}

/** An {@link Image} as RGBA bytes for `new ImageData(...)` (float images are converted to bytes). */
export function imageToRgba(image: Image): Uint8ClampedArray<ArrayBuffer> {
  checkImage(image);
  const im = toUint8Image(image.channels === 1 ? greyToRgb(image) : image);
  if (im.channels !== 3)
    throw new RangeError(`imageToRgba: image must have 1 or 3 channels, got ${image.channels}`);
  const n = im.width * im.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = im.data[3 * i];
    out[4 * i + 1] = im.data[3 * i + 1];
    out[4 * i + 2] = im.data[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}

/** Options of {@link decodeImageBrowser}. */
export interface BrowserImageDecodeOptions extends ImageDecodeOptions {
  /** The file name, for errors (default: a `File`'s name, else 'image'). */
  name?: string;
}

/**
 * Decode PNG / JPEG / WebP / ... bytes or a Blob with the browser's decoders. PNG and JPEG headers are
 * checked before decoding: an image over `opts.maxPixels` (default {@link DEFAULT_MAX_PIXELS}, 8192 x
 * 8192) is refused, as is a PNG whose pixel data is cut short or too long; other formats are checked
 * against the limit once decoded, before their pixels are read.
 * @throws DataError naming the file when it is over the limit or a corrupt PNG
 */
export async function decodeImageBrowser(
  source: Blob | ArrayBuffer | Uint8Array,
  mode: ColorMode = 'rgb',
  opts: BrowserImageDecodeOptions = {},
): Promise<Image> {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
    throw new Error(
      'decodeImageBrowser: needs createImageBitmap and OffscreenCanvas (a browser or web worker); in Node use decodeImage',
    );
  }
  const fileName = typeof File === 'function' && source instanceof File ? source.name : undefined;
  const name = opts.name ?? fileName ?? 'image';
  const maxPixels = maxPixelsOption(opts, 'decodeImageBrowser');
  const blob = source instanceof Blob ? source : new Blob([source as BlobPart]);
  const bytes =
    source instanceof Uint8Array
      ? source
      : source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : new Uint8Array(await blob.arrayBuffer());
  checkImageBytes(bytes, maxPixels, name, 'decodeImageBrowser');
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    checkImageSize(
      {
        format: 'png',
        width: bitmap.width,
        height: bitmap.height,
        channels: 4,
        bitDepth: 8,
        interlaced: false,
      },
      maxPixels,
      name,
      'decodeImageBrowser',
    );
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('decodeImageBrowser: could not get a 2d context');
    ctx.drawImage(bitmap, 0, 0);
    const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return imageFromRgba(data, bitmap.width, bitmap.height, mode);
  } finally {
    bitmap.close();
  }
}

/** Encode an image as a PNG Blob with OffscreenCanvas. */
export async function encodePngBrowser(image: Image): Promise<Blob> {
  if (typeof OffscreenCanvas !== 'function')
    throw new Error('encodePngBrowser: needs OffscreenCanvas (a browser); in Node use encodePng');
  const rgba = imageToRgba(image);
  const canvas = new OffscreenCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('encodePngBrowser: could not get a 2d context');
  ctx.putImageData(new ImageData(rgba, image.width, image.height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}
