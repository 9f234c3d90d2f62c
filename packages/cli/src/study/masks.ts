/**
 * Fig. 7 against the user's own segmentation maps: `--masks DIR` beside an image-folder `--data`. Each
 * test image has a label image in DIR at the same relative path (as a .png, or with the image's own
 * name), the same size as the image; every distinct grey level (or colour) is one segment, as in the
 * paper's ADE20K / CelebAMask-HQ label maps.
 */
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createRng } from '@ldmae/core';
import { readImage } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import { type LoadedData, subsetData } from '../data-source.js';
import { CliError, InterruptedError } from '../errors.js';

/** The label image of `file` (an image under `dataRoot`) in `masksDir`: the .png first, then the same name. */
async function maskPath(file: string, dataRoot: string, masksDir: string): Promise<string> {
  const rel = relative(dataRoot, file);
  const candidates = [...new Set([join(masksDir, rel.replace(/\.[^./\\]*$/, '.png')), join(masksDir, rel)])];
  for (const p of candidates) {
    if (
      await access(p).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  throw new CliError(`--masks: no label image for '${rel}' (looked for ${candidates.join(', ')})`);
}

/**
 * `n` test images (a seeded choice, stratified when labelled) as [n, H, W, 3] in [-1, 1], and their
 * label maps [n, H, W] read from `masksDir` (a grey level, or an RGB colour, is a label). The caller
 * disposes both.
 * @throws CliError naming the image and mask when a mask is missing, not 8-bit or of another size
 */
export async function maskedTestImages(
  test: LoadedData,
  dataRoot: string,
  masksDir: string,
  n: number,
  signal?: AbortSignal,
): Promise<{ images: tf.Tensor4D; segmentation: tf.Tensor3D }> {
  const data = subsetData(test, n, 'images with label maps');
  const count = data.dataset.length;
  const side = data.imageSize;
  const pixels = new Float32Array(count * side * side * 3);
  const labels = new Int32Array(count * side * side);
  const rng = createRng(0);
  for (let i = 0; i < count; i++) {
    if (signal?.aborted) throw new InterruptedError('Fig. 7 interrupted');
    const sample = await data.dataset.get(i);
    if (!sample.file) throw new CliError('--masks needs an image folder as --data');
    const image = data.transform.apply(sample.image, rng);
    const path = await maskPath(sample.file, dataRoot, masksDir);
    const mask = await readImage(path, 'keep');
    if (mask.height !== image.height || mask.width !== image.width)
      throw new CliError(
        `--masks: '${path}' is ${mask.height} x ${mask.width}, its image '${sample.file}' is ${image.height} x ${image.width}`,
      );
    if (!(mask.data instanceof Uint8Array))
      throw new CliError(`--masks: '${path}' must be an 8-bit grey or colour image of labels`);
    const m = mask.data;
    const c = mask.channels;
    // A colour-coded map (CelebAMask-HQ style) packs R, G, B into one label; alpha is ignored.
    for (let j = 0, o = i * side * side; j < side * side; j++, o++)
      labels[o] = c < 3 ? m[j * c] : (m[j * c] << 16) | (m[j * c + 1] << 8) | m[j * c + 2];
    const px = image.data;
    const scale = px instanceof Uint8Array ? 1 / 127.5 : 1;
    const offset = px instanceof Uint8Array ? -1 : 0;
    for (let j = 0; j < px.length; j++) pixels[i * side * side * 3 + j] = px[j] * scale + offset;
  }
  return {
    images: tf.tensor4d(pixels, [count, side, side, 3]),
    segmentation: tf.tensor3d(labels, [count, side, side], 'int32'),
  };
}
