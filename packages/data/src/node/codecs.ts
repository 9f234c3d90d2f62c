/**
 * Image files in Node with pure-JS codecs: pngjs (PNG) and jpeg-js (JPEG).
 *
 * Why not sharp: it brings a native libvips binary per platform, which an npm install of a
 * library should not impose, and its decoding would differ from the browser's anyway; the pure-JS
 * codecs install everywhere and run inside worker_threads. sharp (libjpeg-turbo) decodes JPEGs
 * faster: plug it in through `imageFolder`'s `decode` option where speed matters.
 */
import { kMaxLength } from 'node:buffer';
import { readFile, writeFile } from 'node:fs/promises';
import { inflateSync, constants as zlibConstants } from 'node:zlib';
import type * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { checkImageBytes, type ImageDecodeOptions, maxPixelsOption } from '../codecs/limits.js';
import { type ColorMode, DataError } from '../dataset.js';
import { type GridOptions, makeGrid } from '../grid.js';
import { checkImage, type Image, imagesFromBatch, toUint8Image } from '../image.js';
import { greyToRgb, rgbToGrey } from '../transforms/geometry.js';

/** Container formats recognised from a file's first bytes. */
export type ImageFormat = 'png' | 'jpeg';

/** The format of encoded image bytes, from their magic number, or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** Number of colour components in a JPEG's frame header (1 = grey), or 3 when not found. */
export function jpegComponents(bytes: Uint8Array): number {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return 3;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = (bytes[i + 2] << 8) | bytes[i + 3];
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return bytes[i + 9];
    i += 2 + len;
  }
  return 3;
}

function applyMode(image: Image, mode: ColorMode): Image {
  if (mode === 'rgb') return greyToRgb(image);
  if (mode === 'grey') return rgbToGrey(image);
  return image;
}

/** The bytes a PNG's zlib stream inflates to with node:zlib, stopping at `limit` (see checkImageBytes). */
function zlibInflatedLength(idat: Uint8Array, limit: number): number {
  try {
    return inflateSync(idat, {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: Math.min(limit, kMaxLength),
      chunkSize: Math.max(64, Math.min(limit, 1 << 24)),
    }).length;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return limit;
    throw e;
  }
}

/**
 * Decode PNG or JPEG bytes to a byte image. Alpha is dropped (as Pillow's convert('RGB')). Before
 * decoding, the size in the file's header is checked against `opts.maxPixels` (default
 * {@link DEFAULT_MAX_PIXELS}, 8192 x 8192), and a PNG's pixel data against the size its header needs
 * (data cut short or too long is refused), so a small hostile file cannot make the decoder allocate
 * gigabytes or return made-up rows.
 * @param mode 'rgb' (default, torchvision's loader), 'grey' (Pillow's luma) or 'keep' (as stored)
 * @param name the file name, for errors
 * @param opts `maxPixels`: the decode limit
 * @throws DataError naming the file when the bytes are not a decodable PNG / JPEG, or are over the limit
 */
export function decodeImage(
  bytes: Uint8Array,
  mode: ColorMode = 'rgb',
  name = 'image',
  opts: ImageDecodeOptions = {},
): Image {
  if (!['rgb', 'grey', 'keep'].includes(mode))
    throw new RangeError(`decodeImage: mode must be rgb, grey or keep, got '${mode}'`);
  const maxPixels = maxPixelsOption(opts, 'decodeImage');
  const format = sniffImageFormat(bytes);
  if (!format) throw new DataError(`decodeImage: ${name} is not a PNG or JPEG file`, { file: name });
  checkImageBytes(bytes, maxPixels, name, 'decodeImage', zlibInflatedLength);
  try {
    if (format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      const { width, height } = png;
      const channels = png.color ? 3 : 1;
      const n = width * height;
      const data = new Uint8Array(n * channels);
      const src = png.data;
      if (channels === 3) {
        for (let i = 0; i < n; i++) {
          data[3 * i] = src[4 * i];
          data[3 * i + 1] = src[4 * i + 1];
          data[3 * i + 2] = src[4 * i + 2];
        }
      } else {
        for (let i = 0; i < n; i++) data[i] = src[4 * i];
      }
      return applyMode({ data, height, width, channels }, mode);
    }
    // jpeg-js's own limits, set to agree with maxPixels (our header check above speaks first); its
    // memory count is about 20 bytes per pixel for a 3-component image.
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 24) / 2 ** 20)),
    });
    let image: Image = { data: img.data, height: img.height, width: img.width, channels: 3 };
    if (jpegComponents(bytes) === 1) {
      const n = img.width * img.height;
      const grey = new Uint8Array(n);
      for (let i = 0; i < n; i++) grey[i] = img.data[3 * i];
      image = { data: grey, height: img.height, width: img.width, channels: 1 };
    }
    return applyMode(image, mode);
  } catch (e) {
    throw new DataError(
      `decodeImage: ${name} is a corrupt or unsupported ${format.toUpperCase()} (${(e as Error).message})`,
      {
        file: name,
        cause: e,
      },
    );
  }
}

/** Encode a byte image (float images are converted) as PNG bytes: grey (colour type 0) or RGB (2). */
export function encodePng(image: Image): Uint8Array {
  checkImage(image);
  const im = toUint8Image(image);
  if (im.channels !== 1 && im.channels !== 3)
    throw new RangeError(`encodePng: image must have 1 or 3 channels, got ${im.channels}`);
  const colorType = im.channels === 1 ? 0 : 2;
  const png = new PNG({
    width: im.width,
    height: im.height,
    colorType,
    inputColorType: colorType,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(im.data.buffer, im.data.byteOffset, im.data.length);
  const buf = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Encode an image as JPEG bytes (quality 1..100, default 90). Grey images are stored as RGB. */
export function encodeJpeg(image: Image, quality = 90): Uint8Array {
  checkImage(image);
  if (!(quality >= 1 && quality <= 100))
    throw new RangeError(`encodeJpeg: quality must be in 1..100, got ${quality}`);
  const im = toUint8Image(image);
  if (im.channels !== 1 && im.channels !== 3)
    throw new RangeError(`encodeJpeg: image must have 1 or 3 channels, got ${im.channels}`);
  const n = im.width * im.height;
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) rgba[4 * i + ch] = im.data[im.channels === 1 ? i : 3 * i + ch];
    rgba[4 * i + 3] = 255;
  }
  const out = jpeg.encode({ data: rgba, width: im.width, height: im.height }, quality);
  return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
}

/**
 * Read and decode an image file (see {@link decodeImage}, whose checks and `maxPixels` limit apply);
 * failures are {@link DataError}s naming the file.
 */
export async function readImage(
  path: string,
  mode: ColorMode = 'rgb',
  opts: ImageDecodeOptions = {},
): Promise<Image> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DataError(`readImage: cannot read ${path} (${(e as Error).message})`, { file: path, cause: e });
  }
  return decodeImage(bytes, mode, path, opts);
}

/** Write an image as a PNG file. */
export async function writePng(path: string, image: Image): Promise<void> {
  await writeFile(path, encodePng(image));
}

/** Write an image as a JPEG file (quality 1..100, default 90). */
export async function writeJpeg(path: string, image: Image, quality = 90): Promise<void> {
  await writeFile(path, encodeJpeg(image, quality));
}

/**
 * Save images as one PNG grid (torchvision's save_image layout: `nrow` per row, padding 2).
 * @param images byte / float images, or a tensor [B, H, W, C] in [-1, 1] (not disposed)
 */
export async function saveGrid(
  images: readonly Image[] | tf.Tensor4D,
  path: string,
  opts: GridOptions = {},
): Promise<Image> {
  let list: readonly Image[];
  if (Array.isArray(images)) list = images;
  else {
    const t = images as tf.Tensor4D;
    if (t?.rank !== 4)
      throw new TypeError('saveGrid: images must be an Image array or a tensor [B, H, W, C]');
    list = imagesFromBatch(await t.data(), t.shape);
  }
  const grid = makeGrid(list, opts);
  await writePng(path, grid);
  return grid;
}
