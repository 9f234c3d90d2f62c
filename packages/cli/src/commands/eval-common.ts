/** The evaluation networks of the eval commands, and how they report their metrics. */
import { join } from 'node:path';
import type { FeatureExtractor, LpipsLike } from '@ldmae/metrics';
import type { CommandContext } from '../command.js';
import { writeJson } from '../files.js';
import type { OptionsOf } from '../options.js';
import type { Reporter } from '../progress.js';
import { type EvalContext, loadExtractor, loadLpips } from '../steps/evaluate.js';
import type { extractorSpecs } from './shared.js';

/**
 * Run `work` with the extractor of the options (and LPIPS when `withLpips`), released after.
 * @param imageSize side of the evaluated images (LPIPS upsamples small ones)
 */
export async function withEvalNetworks(
  o: OptionsOf<typeof extractorSpecs>,
  imageSize: number,
  ctx: CommandContext,
  withLpips: boolean,
  work: (nets: EvalContext & { extractor: FeatureExtractor }) => Promise<void>,
): Promise<void> {
  const extractor = await loadExtractor(o.extractor, o.extractorSize);
  let lpips: (LpipsLike & { dispose(): void }) | null = null;
  try {
    if (withLpips) lpips = await loadLpips(imageSize);
    await work({ extractor, lpips, reporter: ctx.reporter, batchSize: o.batchSize, signal: ctx.signal });
  } finally {
    extractor.dispose();
    lpips?.dispose();
  }
}

/** Write `metrics` to `<outDir>/metrics.json` and report them with `lines` and the file's path. */
export async function reportMetrics(
  reporter: Reporter,
  outDir: string,
  metrics: Record<string, unknown>,
  lines: string[],
): Promise<void> {
  const file = join(outDir, 'metrics.json');
  await writeJson(file, metrics);
  reporter.result(metrics, [...lines, `metrics: ${file}`].join('\n'));
}
