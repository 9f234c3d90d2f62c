/** A small checkpoint payload (float32, int32 and bool tensors, metadata) shared by checkpoint tests. */
import * as tf from '@tensorflow/tfjs-core';

export function payload() {
  return {
    tensors: {
      'model.w': tf.tensor2d([
        [1, 2],
        [3, 4.5],
      ]),
      'model.n': tf.tensor1d([7, -8], 'int32'),
      'model.mask': tf.tensor1d([true, false], 'bool'),
    },
    metadata: { format: 'ldmae-checkpoint', step: '12', config: JSON.stringify({ width: 8 }) },
  };
}
