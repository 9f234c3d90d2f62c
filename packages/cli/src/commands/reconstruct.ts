/** `ldmae reconstruct`: originals beside their reconstructions, as a PNG grid. */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { defineCommand } from '../command.js';
import { imageSource } from '../steps/evaluate.js';
import { reconstructionRows, writeGrid } from '../steps/images.js';
import { aeSpec, dataSpecs, outSpec, seedSpec } from './shared.js';
import { withAutoencoder } from './start.js';

export const reconstructCommand = defineCommand({
  name: 'reconstruct',
  summary: 'reconstruct images with an autoencoder (originals above reconstructions)',
  details: `Encodes --n images (the posterior mean), decodes them and writes reconstructions.png: rows of
--per-row originals, each followed by the row of their reconstructions; plus config.json.

Example: ldmae reconstruct --ae runs/vmae/autoencoder.safetensors --n 32`,
  specs: [
    aeSpec,
    ...dataSpecs('test'),
    { key: 'n', type: 'int', description: 'images to reconstruct', default: 32, min: 1 },
    { key: 'perRow', type: 'int', description: 'images per grid row', default: 8, min: 1 },
    seedSpec,
    outSpec('reconstruct'),
  ],
  run: (o, ctx) =>
    withAutoencoder('reconstruct', o, ctx, async ({ ae, kind, data, outDir }) => {
      const { n, perRow } = o;
      const phase = ctx.reporter.phase('reconstruct', n, 'images');
      const parts: tf.Tensor4D[] = [];
      let done = 0;
      for await (const x of imageSource(data, n, perRow * 4, o.seed)()) {
        parts.push(reconstructionRows(ae, x, perRow));
        done += x.shape[0];
        x.dispose();
        phase.update(done);
      }
      phase.finish();
      const all = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor4D);
      const png = join(outDir, 'reconstructions.png');
      await writeGrid(png, all, perRow);
      tf.dispose([...parts, all]);
      ctx.reporter.result(
        { grid: png, count: n, autoencoder: kind },
        `wrote ${png} (${n} images; odd rows originals, even rows ${kind} reconstructions)`,
      );
    }),
});
