/** Loading the evaluation networks of the eval commands from their options. */
import type { FeatureExtractor, LpipsLike } from '@ldmae/metrics';
import type { ResolvedOptions } from '../options.js';
import type { Reporter } from '../progress.js';
import { type EvalContext, loadExtractor, loadLpips } from '../steps/evaluate.js';

/** The extractor (and LPIPS when `withLpips`) of the options; `dispose` releases them. */
export async function evalNetworks(
  o: ResolvedOptions,
  imageSize: number,
  reporter: Reporter,
  withLpips: boolean,
  signal?: AbortSignal,
): Promise<EvalContext & { extractor: FeatureExtractor; dispose: () => void }> {
  const extractor = await loadExtractor(o.extractor as string, o.extractorSize as number);
  let lpips: (LpipsLike & { dispose(): void }) | null = null;
  try {
    if (withLpips) lpips = await loadLpips(imageSize);
  } catch (e) {
    extractor.dispose();
    throw e;
  }
  return {
    extractor,
    lpips,
    reporter,
    batchSize: o.batchSize as number,
    signal,
    dispose: () => {
      extractor.dispose();
      lpips?.dispose();
    },
  };
}
