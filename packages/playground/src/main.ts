/** The playground page: wires the controls of index.html to the modules beside this one. */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, backendFromQuery, initBackend } from './backend.js';
import {
  bundleFiles,
  type CheckpointFile,
  describeLoaded,
  fetchCheckpointFiles,
  isInDir,
  type LoadedCheckpoint,
  loadCheckpointFiles,
  pipelineDir,
  sortFiles,
} from './checkpoint.js';
import { bundledDigits, decodeUploads, drawGrid, greyToRgb, type HostImages } from './images.js';
import { drawLinePlot } from './plot.js';
import { reconstruct } from './reconstruct.js';
import { sampleGrid } from './sample.js';
import { deleteStored, getStored, listStored, saveStored } from './store.js';
import { trainSteps } from './train.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = {
  backendSelect: $<HTMLSelectElement>('backend-select'),
  backend: $('backend'),
  memory: $('memory'),
  url: $<HTMLInputElement>('ckpt-url'),
  loadUrl: $<HTMLButtonElement>('load-url'),
  files: $<HTMLInputElement>('ckpt-files'),
  dir: $<HTMLInputElement>('ckpt-dir'),
  stored: $<HTMLSelectElement>('stored'),
  loadStored: $<HTMLButtonElement>('load-stored'),
  deleteStored: $<HTMLButtonElement>('delete-stored'),
  ckptStatus: $('ckpt-status'),
  reconstruct: $<HTMLButtonElement>('reconstruct'),
  images: $<HTMLInputElement>('images'),
  psnr: $('psnr'),
  ssim: $('ssim'),
  reconStatus: $('recon-status'),
  origCanvas: $<HTMLCanvasElement>('orig-canvas'),
  reconCanvas: $<HTMLCanvasElement>('recon-canvas'),
  steps: $<HTMLInputElement>('steps'),
  stepsValue: $('steps-value'),
  seed: $<HTMLInputElement>('seed'),
  perClass: $<HTMLInputElement>('per-class'),
  cfg: $<HTMLInputElement>('cfg'),
  sample: $<HTMLButtonElement>('sample'),
  sampleStatus: $('sample-status'),
  sampleCanvas: $<HTMLCanvasElement>('sample-canvas'),
  trainSteps: $<HTMLInputElement>('train-steps'),
  trainBatch: $<HTMLInputElement>('train-batch'),
  trainLr: $<HTMLInputElement>('train-lr'),
  trainLoaded: $<HTMLInputElement>('train-loaded'),
  train: $<HTMLButtonElement>('train'),
  lossValue: $('loss-value'),
  trainStatus: $('train-status'),
  lossCanvas: $<HTMLCanvasElement>('loss-canvas'),
  lossValues: $('loss-values'),
  log: $('log'),
};

const digits = bundledDigits();
let loaded: LoadedCheckpoint | null = null;
let loadedName: string | null = null;
let busy = false;

/** Status text plus a machine-readable state (`data-state`) that the browser test waits on. */
function setStatus(node: HTMLElement, state: 'busy' | 'done' | 'error', text: string): void {
  node.dataset.state = state;
  node.textContent = text;
}

function showMemory(): void {
  const n = tf.memory().numTensors;
  document.body.dataset.tensors = String(n);
  el.memory.textContent = `${n} tensors, ${(tf.memory().numBytes / 2 ** 20).toFixed(1)} MiB`;
}

function logError(where: string, e: unknown): void {
  const msg = `${where}: ${(e as Error)?.message ?? String(e)}`;
  console.error(msg, e);
  el.log.textContent = `${el.log.textContent ? `${el.log.textContent}\n` : ''}${msg}`;
}

/** Run one action at a time; its status element says busy / done / error. */
async function act(status: HTMLElement, what: string, fn: () => Promise<string>): Promise<void> {
  if (busy) {
    setStatus(status, 'error', 'another action is running; try again when it has finished');
    return;
  }
  busy = true;
  document.body.dataset.busy = '1';
  setStatus(status, 'busy', `${what}...`);
  try {
    setStatus(status, 'done', await fn());
  } catch (e) {
    setStatus(status, 'error', `${what} failed: ${(e as Error).message}`);
    logError(what, e);
  } finally {
    busy = false;
    document.body.dataset.busy = '0';
    updateButtons();
    showMemory();
  }
}

function updateButtons(): void {
  el.reconstruct.disabled = !loaded;
  el.sample.disabled = !loaded;
}

async function refreshStored(select?: string): Promise<void> {
  const list = await listStored().catch((e) => {
    logError('IndexedDB', e);
    return [];
  });
  el.stored.replaceChildren(
    ...list.map((c) => {
      const o = document.createElement('option');
      o.value = c.name;
      o.textContent = `${c.name} (${(c.bytes / 2 ** 20).toFixed(2)} MiB, ${c.savedAt.slice(0, 19).replace('T', ' ')})`;
      return o;
    }),
  );
  if (select) el.stored.value = select;
  el.loadStored.disabled = list.length === 0;
  el.deleteStored.disabled = list.length === 0;
}

/**
 * Load the models from checkpoint files (a pipeline folder among them first, else the checkpoint
 * layout); keep the files it needs in IndexedDB under `name` when `store`.
 */
async function loadFiles(name: string, files: CheckpointFile[], store: boolean): Promise<string> {
  const bundle = sortFiles(files);
  const next = await loadCheckpointFiles(bundle);
  loaded?.dispose();
  loaded = next;
  loadedName = name;
  if (store) {
    await saveStored(name, bundleFiles(bundle));
    await refreshStored(name);
  }
  document.body.dataset.checkpoint = name;
  return `loaded ${name}: ${describeLoaded(next)}`;
}

async function readPicked(list: FileList | null): Promise<{ name: string; files: CheckpointFile[] }> {
  const picked = Array.from(list ?? []);
  if (picked.length === 0) throw new Error('no files picked');
  const pathOf = (f: File) => f.webkitRelativePath || f.name;
  // With a pipeline folder among them, only its files are read (a whole output folder is large).
  const dir = pipelineDir(picked.map(pathOf));
  const files = await Promise.all(
    picked
      .filter((f) => /\.(safetensors|json)$/i.test(f.name) && (dir === null || isInDir(pathOf(f), dir)))
      .map(async (f) => ({
        path: pathOf(f),
        bytes: new Uint8Array(await f.arrayBuffer()),
      })),
  );
  const top = picked[0].webkitRelativePath?.split('/')[0];
  return { name: top ? `folder ${top}` : `files ${picked.map((f) => f.name).join(', ')}`, files };
}

function showReconstruction(images: HostImages, cols: number): Promise<string> {
  const model = loaded!.vmae;
  return reconstruct(model, images).then((r) => {
    drawGrid(el.origCanvas, images, cols);
    drawGrid(el.reconCanvas, r.recon, cols);
    el.psnr.textContent = Number.isFinite(r.meanPsnr) ? r.meanPsnr.toFixed(2) : String(r.meanPsnr);
    el.ssim.textContent = r.meanSsim.toFixed(4);
    return `${images.shape[0]} image(s); per image PSNR ${Array.from(r.psnr, (v) => v.toFixed(1)).join(', ')}`;
  });
}

function intInput(input: HTMLInputElement, what: string): number {
  const v = Number(input.value);
  if (!Number.isInteger(v)) throw new Error(`${what} must be an integer, got '${input.value}'`);
  return v;
}

function wire(): void {
  el.backendSelect.addEventListener('change', () => {
    const q = new URLSearchParams(location.search);
    q.set('backend', el.backendSelect.value);
    if (loadedName && el.stored.value) q.set('stored', el.stored.value);
    location.search = q.toString();
  });
  el.loadUrl.addEventListener('click', () =>
    act(el.ckptStatus, 'loading from URL', async () => {
      const base = el.url.value.trim();
      if (!base) throw new Error('enter the URL of a quickstart output folder or of a pipeline folder');
      const abs = new URL(base, location.href).href;
      return loadFiles(abs, await fetchCheckpointFiles(abs), true);
    }),
  );
  for (const input of [el.files, el.dir]) {
    input.addEventListener('change', () =>
      act(el.ckptStatus, 'loading the picked files', async () => {
        const { name, files } = await readPicked(input.files);
        return loadFiles(name, files, true);
      }),
    );
  }
  el.loadStored.addEventListener('click', () =>
    act(el.ckptStatus, 'loading the stored checkpoint', async () => {
      const rec = await getStored(el.stored.value);
      if (!rec) throw new Error(`no stored checkpoint '${el.stored.value}'`);
      return loadFiles(rec.name, rec.files, false);
    }),
  );
  el.deleteStored.addEventListener('click', () =>
    act(el.ckptStatus, 'deleting', async () => {
      const name = el.stored.value;
      await deleteStored(name);
      await refreshStored();
      return `deleted ${name} from this browser`;
    }),
  );
  el.reconstruct.addEventListener('click', () =>
    act(el.reconStatus, 'reconstructing', () =>
      showReconstruction(greyToRgb(digits.images, digits.size), 10),
    ),
  );
  el.images.addEventListener('change', () =>
    act(el.reconStatus, 'reconstructing your images', async () => {
      if (!loaded) throw new Error('load a checkpoint first');
      const [h] = loaded.info.imageShape;
      const imgs = await decodeUploads(Array.from(el.images.files ?? []), h);
      return showReconstruction(imgs, Math.min(10, imgs.shape[0]));
    }),
  );
  el.steps.addEventListener('input', () => {
    el.stepsValue.textContent = el.steps.value;
  });
  el.sample.addEventListener('click', () =>
    act(el.sampleStatus, 'sampling', async () => {
      const t0 = performance.now();
      const g = await sampleGrid(loaded!, {
        perClass: intInput(el.perClass, 'per class'),
        steps: intInput(el.steps, 'steps'),
        seed: intInput(el.seed, 'seed'),
        cfg: Number(el.cfg.value),
        onProgress: (done, total) => {
          el.sampleStatus.textContent = `sampling ${done.toFixed(1)} / ${total}`;
        },
      });
      drawGrid(el.sampleCanvas, g.images, g.cols, 2);
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      return `${g.rows} x ${g.cols} samples, ${el.steps.value} steps, seed ${el.seed.value}, in ${s} s`;
    }),
  );
  el.train.addEventListener('click', () =>
    act(el.trainStatus, 'training', async () => {
      const useLoaded = el.trainLoaded.checked;
      if (useLoaded && !loaded) throw new Error('load a checkpoint to fine-tune its VMAE');
      const losses: number[] = [];
      drawLinePlot(el.lossCanvas, losses);
      const r = await trainSteps({
        digits,
        steps: intInput(el.trainSteps, 'steps'),
        batchSize: intInput(el.trainBatch, 'batch'),
        lr: Number(el.trainLr.value),
        seed: intInput(el.seed, 'seed'),
        ...(useLoaded ? { model: loaded!.vmae } : {}),
        onStep: (step, loss) => {
          losses.push(loss);
          el.lossValue.textContent = loss.toFixed(4);
          el.lossValues.textContent = JSON.stringify(losses);
          el.trainStatus.textContent = `step ${step}`;
          drawLinePlot(el.lossCanvas, losses);
        },
      });
      if (!useLoaded) r.model.dispose();
      return `${r.losses.length} steps in ${r.seconds.toFixed(1)} s (${useLoaded ? 'the loaded VMAE' : 'a fresh f4d4-tiny'})`;
    }),
  );
}

async function start(): Promise<void> {
  const choice: BackendChoice = backendFromQuery(location.search);
  el.backendSelect.value = choice;
  wire();
  drawLinePlot(el.lossCanvas, []);
  try {
    const name = await initBackend(choice);
    el.backend.textContent = name;
    document.body.dataset.backend = name;
  } catch (e) {
    el.backend.textContent = 'none';
    document.body.dataset.backend = 'none';
    logError('backend', e);
    return;
  }
  showMemory();
  updateButtons();
  const q = new URLSearchParams(location.search);
  await refreshStored(q.get('stored') ?? undefined);
  const stored = q.get('stored');
  const url = q.get('checkpoint');
  if (url) el.url.value = url;
  if (stored) el.loadStored.click();
  else if (url) el.loadUrl.click();
  document.body.dataset.ready = '1';
}

start().catch((e) => logError('start', e));
