/** Small models shared by the WebGPU tests. */
import { createRng } from '@ldmae/core';
import { LightningDiT } from '@ldmae/diffusion';
import * as tf from '@tensorflow/tfjs-core';

/** A LightningDiT of width 64 on 4 x 4 x 4 latents, weights random (adaLN-Zero would zero most gradients). */
export function microDiT(): LightningDiT {
  const m = new LightningDiT({ preset: 'LightningDiT-Nano/1', inputSize: 4, inChannels: 4, numClasses: 3 });
  const rng = createRng(3);
  for (const [name, v] of m.namedParameters()) {
    const r = rng.normal(v.shape, 0, 0.2);
    const value = v.rank === 1 && name.endsWith('weight') ? tf.add(r, 1) : r;
    v.assign(value);
    tf.dispose([r, value]);
  }
  return m;
}
