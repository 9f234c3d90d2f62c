/** `ldmae encode`: encode a data set once into a latent cache for diffusion training. */
import { join } from 'node:path';
import { LATENT_MANIFEST_FILE, subset } from '@ldmae/data';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { exists } from '../files.js';
import { encodeDataset } from '../steps/encode.js';
import { aeSpec, dataSpecs, outSpec } from './shared.js';
import { withAutoencoder } from './start.js';

export const encodeCommand = defineCommand({
  name: 'encode',
  summary: 'encode a data set into a latent cache (build the cache train-ldm reads)',
  details: `Writes into --out: g<n>-shard-00000.safetensors, ... (posterior mean and log-variance of every
image, labels, indices), manifest.json (written last: it lists the shards and holds the per-channel
latent normalisation the diffusion model trains in, from up to 10,000 posterior samples; replacing it
commits the cache in one step), cache-info.json (a copy of that normalisation) and config.json.
An interrupted or failed encode leaves the cache the folder held before, if any; --overwrite replaces
it only once the new one is complete.

Example: ldmae encode --ae runs/vmae/autoencoder.safetensors --out runs/latents`,
  specs: [
    aeSpec,
    ...dataSpecs('train'),
    { key: 'batchSize', type: 'int', description: 'images per encoder call', default: 64, min: 1 },
    {
      key: 'n',
      type: 'int',
      description: 'encode only the first n images of the split (default: all of them)',
      min: 1,
    },
    {
      key: 'flip',
      type: 'boolean',
      description:
        'also store the posteriors of mirrored images, for flip augmentation (off: a mirrored digit is not a digit)',
    },
    {
      key: 'resume',
      type: 'boolean',
      description: 'keep a complete cache in --out; re-encode an incomplete one',
    },
    { key: 'overwrite', type: 'boolean', description: 'replace a complete cache in --out' },
    outSpec('latents', 'cache folder'),
  ],
  async run(o, ctx) {
    if (o.resume && o.overwrite) throw new UsageError('--resume and --overwrite cannot be used together');
    const outDir = o.out;
    const complete = await exists(join(outDir, LATENT_MANIFEST_FILE));
    if (complete && o.resume) {
      ctx.reporter.result(
        { cache: outDir, skipped: true },
        `${outDir} already holds a complete cache (--resume): nothing to do`,
      );
      return;
    }
    if (complete && !o.overwrite) {
      throw new UsageError(
        `${outDir} already holds a complete latent cache; not overwriting it`,
        'use --overwrite to replace it, or choose another --out',
      );
    }
    await withAutoencoder('encode', o, ctx, async ({ ae, kind, data: loaded }) => {
      const n = o.n;
      const data =
        n !== undefined && n < loaded.dataset.length
          ? {
              ...loaded,
              dataset: subset(
                loaded.dataset,
                Array.from({ length: n }, (_, i) => i),
              ),
              description: `${loaded.description}; the first ${n} images`,
            }
          : loaded;
      const { manifest, info } = await encodeDataset(ae, data, {
        outDir,
        aePath: o.ae,
        batchSize: o.batchSize,
        flip: o.flip === true,
        reporter: ctx.reporter,
        signal: ctx.signal,
        argv: ctx.argv,
      });
      ctx.reporter.result(
        {
          cache: outDir,
          count: manifest.count,
          latentShape: manifest.latentShape,
          autoencoder: kind,
          normalization: info.normalization,
        },
        `encoded ${manifest.count} images into ${outDir} (latents ${manifest.latentShape.join('x')}, ${manifest.shards.length} shard${manifest.shards.length === 1 ? '' : 's'})\n` +
          `next: ldmae train-ldm --latents ${outDir}`,
      );
    });
  },
});
