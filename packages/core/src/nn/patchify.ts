/**
 * Patchify / unpatchify between NHWC images and token sequences, in the layout of the reference
 * PyTorch models (MAE's 'nchpwq -> nhwpqc', DiT's unpatchify): tokens row-major over the (h, w) grid,
 * each patch vector ordered (row in patch, column in patch, channel), like a conv kernel [kh, kw, in]
 * flattened, so a p x p stride-p conv is one matrix product over the patches.
 *
 * Both directions use one 4-D transpose: 5-D and 6-D transposes are slow on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';

/**
 * Split images into non-overlapping p x p patches.
 * @param images [B, H, W, C] with H and W divisible by p.
 * @param p patch side.
 * @returns [B, (H/p) * (W/p), p * p * C]; the caller owns it.
 */
export function patchify(images: tf.Tensor, p: number): tf.Tensor3D {
  checkNumber(p, 'patchify: patchSize', 'a positive integer');
  if (images.rank !== 4)
    throw new Error(`patchify: images must be [B, H, W, C] (NHWC), got [${images.shape}]`);
  const [b, h, w, c] = images.shape as number[];
  if (h % p !== 0 || w % p !== 0) {
    throw new Error(`patchify: image size ${h}x${w} must be divisible by the patch size ${p}`);
  }
  const gh = h / p;
  const gw = w / p;
  return tf.tidy(() => {
    if (p === 1) return tf.reshape(images, [b, gh * gw, c]) as tf.Tensor3D;
    // [B*gh, p, gw, p*C] -> [B*gh, gw, p, p*C]: each (row, column) patch becomes p rows of p*C values.
    const t = tf.transpose(tf.reshape(images, [b * gh, p, gw, p * c]), [0, 2, 1, 3]);
    return tf.reshape(t, [b, gh * gw, p * p * c]) as tf.Tensor3D;
  });
}

/**
 * Inverse of {@link patchify}.
 * @param patches [B, gh * gw, p * p * C].
 * @param p patch side.
 * @param grid [gh, gw]; a square grid is inferred when omitted.
 * @param channels C (default 3).
 * @returns images [B, gh * p, gw * p, C]; the caller owns it.
 */
export function unpatchify(
  patches: tf.Tensor,
  p: number,
  grid?: [number, number],
  channels = 3,
): tf.Tensor4D {
  checkNumber(p, 'unpatchify: patchSize', 'a positive integer');
  if (patches.rank !== 3)
    throw new Error(`unpatchify: patches must be [B, L, p*p*C], got [${patches.shape}]`);
  const [b, l, d] = patches.shape as number[];
  if (d !== p * p * channels) {
    throw new Error(`unpatchify: patch vectors must have p*p*C = ${p * p * channels} values, got ${d}`);
  }
  let gh: number;
  let gw: number;
  if (grid) {
    [gh, gw] = grid;
    if (gh * gw !== l) throw new Error(`unpatchify: grid [${grid}] has ${gh * gw} tokens, patches have ${l}`);
  } else {
    gh = Math.round(Math.sqrt(l));
    gw = gh;
    if (gh * gw !== l) throw new Error(`unpatchify: ${l} tokens are not a square grid; pass grid [gh, gw]`);
  }
  return tf.tidy(() => {
    if (p === 1) return tf.reshape(patches, [b, gh, gw, channels]) as tf.Tensor4D;
    const t = tf.transpose(tf.reshape(patches, [b * gh, gw, p, p * channels]), [0, 2, 1, 3]);
    return tf.reshape(t, [b, gh * p, gw * p, channels]) as tf.Tensor4D;
  });
}
