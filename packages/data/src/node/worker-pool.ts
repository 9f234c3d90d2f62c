/**
 * Prefetch in worker threads: each worker rebuilds the data set and transform from their specs and
 * builds whole batches (read, decode, augment, pack), so the training thread only uploads them.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataError, type Dataset } from '../dataset.js';
import type { BatchData, BatchItem, Layout } from '../loader/batch.js';
import type { BatchExecutor } from '../loader/loader.js';
import type { Transform } from '../transforms/transforms.js';

interface Pending {
  resolve: (b: BatchData) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * How to start the worker script. From the built package it is plain JS. From the TypeScript
 * sources (tests, tsx) a small CommonJS bootstrap registers tsx's loader inside the worker first
 * (Node 20 ignores `--import` in a worker's execArgv).
 */
function workerEntry(): { script: string | URL; eval: boolean; execArgv?: string[] } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { script: new URL('./prefetch-worker.js', here), eval: false };
  // tsx's ESM and CommonJS hooks are both needed: tfjs-core's extensionless ES modules (deep imports
  // of @ldmae/core) load through the CommonJS one. (require.resolve gives the CommonJS twin of the
  // "./esm/api" export, hence the path.)
  const tsxRoot = dirname(createRequire(here).resolve('tsx/package.json'));
  const esmApi = pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href;
  const cjsApi = join(tsxRoot, 'dist/cjs/api/index.cjs');
  const target = new URL('./prefetch-worker.ts', here).href;
  const code =
    `require(${JSON.stringify(cjsApi)}).register();` +
    `import(${JSON.stringify(esmApi)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`;
  // None of the parent's flags: a Node-level --conditions (vitest passes '@ldmae/source' and 'module')
  // makes Node, not tsx, resolve imports, and tfjs-core's deep ESM imports then fail. tsx applies the
  // '@ldmae/source' condition itself, from tsconfig's customConditions.
  return { script: code, eval: true, execArgv: [] };
}

/** A {@link BatchExecutor} backed by `workers` worker threads (jobs go to the least busy one). */
export function createWorkerExecutor(
  dataset: Dataset,
  transform: Transform | null,
  layout: Layout,
  workers: number,
): BatchExecutor {
  const spec = dataset.toSpec?.();
  if (!spec) throw new Error('DataLoader: this data set cannot be sent to worker threads');
  if (transform && transform.spec === null)
    throw new Error('DataLoader: lambda transforms cannot run in worker threads');
  const entry = workerEntry();
  const slots: Slot[] = [];
  let nextId = 0;
  let failure: Error | null = null;
  for (let i = 0; i < workers; i++) {
    const worker = new Worker(entry.script, {
      eval: entry.eval,
      execArgv: entry.execArgv,
      workerData: { dataset: spec, transform: transform?.spec ?? null, layout },
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.on(
      'message',
      (msg: {
        id?: number;
        ok?: boolean;
        batch?: BatchData;
        error?: { name: string; message: string; file?: string; index?: number };
      }) => {
        if (msg.id === undefined) return;
        const p = slot.pending.get(msg.id);
        if (!p) return;
        slot.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.batch!);
        else {
          const e = msg.error!;
          p.reject(
            e.name === 'DataError'
              ? new DataError(e.message, { file: e.file, index: e.index })
              : new Error(e.message),
          );
        }
      },
    );
    const fail = (err: Error): void => {
      failure = err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`DataLoader worker failed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (slot.pending.size > 0) fail(new Error(`DataLoader worker exited with code ${code}`));
    });
    slots.push(slot);
  }
  return {
    run(items: BatchItem[]): Promise<BatchData> {
      if (failure) return Promise.reject(failure);
      const slot = slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
      const id = nextId++;
      return new Promise<BatchData>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.postMessage({ id, items });
      });
    },
    async close(): Promise<void> {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
