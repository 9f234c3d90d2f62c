/**
 * Worker-thread side of the prefetch pool: rebuilds the data set and transform from plain data, then
 * answers batch requests with packed Float32Arrays (transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DatasetSpec } from '../dataset.js';
import { type BatchItem, buildBatch, type Layout } from '../loader/batch.js';
import { type TransformSpec, transformFromSpec } from '../transforms/transforms.js';
import { datasetFromSpec } from './dataset-from-spec.js';

interface Init {
  dataset: DatasetSpec;
  transform: TransformSpec | null;
  layout: Layout;
}

const init = workerData as Init;
const dataset = datasetFromSpec(init.dataset);
const transform = init.transform ? transformFromSpec(init.transform) : null;
const onError = dataset.onError ?? 'throw';

parentPort!.on('message', async (job: { id: number; items: BatchItem[] }) => {
  try {
    const batch = await buildBatch(dataset, job.items, transform, init.layout, onError);
    parentPort!.postMessage({ id: job.id, ok: true, batch }, [batch.images.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error & { file?: string; index?: number };
    parentPort!.postMessage({
      id: job.id,
      ok: false,
      error: { name: err?.name, message: err?.message ?? String(e), file: err?.file, index: err?.index },
    });
  }
});
parentPort!.postMessage({ ready: true });
