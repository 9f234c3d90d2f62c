/** Image outputs of the commands: grids as PNG (files and bytes for the report), sample arrays. */
import type { Autoencoder } from '@ldmae/core';
import { encodePng, imagesFromBatch, makeGrid } from '@ldmae/data';
import * as tf from '@tensorflow/tfjs-core';
import type { LoadedData } from '../data-source.js';
import { writeOutput } from '../files.js';
import { imageSource } from './evaluate.js';

/**
 * Write a grid PNG of images [n, H, W, C] in [-1, 1] with `nrow` per row to `path` and return its bytes
 * (the tensor stays the caller's).
 */
export async function writeGrid(path: string, images: tf.Tensor4D, nrow: number): Promise<Uint8Array> {
  const list = imagesFromBatch(await images.data(), images.shape);
  const png = encodePng(makeGrid(list, { nrow, padding: 2 }));
  await writeOutput(path, png, 'image');
  return png;
}

/**
 * Originals and reconstructions (posterior mean decoded, clipped to [-1, 1]) interleaved row by row:
 * a row of `perRow` originals, then their reconstructions. The caller owns the result.
 */
export function reconstructionRows(ae: Autoencoder, x: tf.Tensor4D, perRow: number): tf.Tensor4D {
  return tf.tidy(() => {
    const post = ae.encode(x);
    const y = tf.clipByValue(ae.decode(post.mean as tf.Tensor4D), -1, 1);
    post.dispose();
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < x.shape[0]; i += perRow) {
      const k = Math.min(perRow, x.shape[0] - i);
      rows.push(tf.slice(x, i, k), tf.slice(y, i, k));
    }
    return tf.concat(rows, 0) as tf.Tensor4D;
  });
}

/**
 * `n` images of `test` (seed 3) above their reconstructions, `perRow` a row, written to `file`.
 * @returns the PNG bytes, or null when `test` gave no images
 */
export async function writeReconstructionGrid(
  ae: Autoencoder,
  test: LoadedData,
  file: string,
  n = 16,
  perRow = 8,
): Promise<Uint8Array | null> {
  for await (const x of imageSource(test, n, n, 3)()) {
    const rows = reconstructionRows(ae, x, perRow);
    try {
      return await writeGrid(file, rows, perRow);
    } finally {
      tf.dispose([rows, x]);
    }
  }
  return null;
}
