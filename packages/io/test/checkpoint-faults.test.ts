/**
 * Fault injection for checkpoint folders: a child process saving a checkpoint is killed (SIGKILL)
 * before each file-system step of the save in turn, or sees a full disk (ENOSPC) at that step. After
 * every fault the folder must load as the previous checkpoint or the new one, never neither, and the
 * next save must succeed and leave no temporary or orphaned files behind.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpointHost, saveCheckpoint } from '../src/index.node.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'save-child.ts');
let dir: string;

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  out: { ok: boolean; error?: string; steps: string[] } | null;
  stderr: string;
}

function child(folder: string, step: number, mode: string, k = -1): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, folder, String(step), mode, String(k)], {
    cwd: join(import.meta.dirname, '..'),
    encoding: 'utf8',
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return { status: r.status, signal: r.signal, out: line ? JSON.parse(line) : null, stderr: r.stderr };
}

/** The step a checkpoint folder holds, after checking that its tensors all agree with it. */
async function loadedStep(folder: string): Promise<number> {
  const { tensors, metadata } = await loadCheckpointHost(folder);
  const step = Number(metadata.step);
  expect(Array.from(new Set(tensors.w.data as Float32Array))).toEqual([step]);
  expect(Array.from(new Set(tensors.b.data as Float32Array))).toEqual([-step]);
  return step;
}

let template: string;

/** A folder holding the checkpoint of step 2 (its second save), as the faulty save finds it. */
async function folderAtStep2(name: string): Promise<string> {
  const folder = join(dir, name);
  await cp(template, folder, { recursive: true });
  return folder;
}

/** Save step `step` in this process (the resumed run). */
async function saveStep(folder: string, step: number): Promise<void> {
  const tensors = { w: tf.fill([64, 64], step), b: tf.fill([64], -step) };
  try {
    await saveCheckpoint(folder, { tensors, metadata: { step: String(step) } });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ldmae-faults-'));
  template = join(dir, 'template');
  // Two saves by a child process, as in a real run.
  for (const step of [1, 2]) expect(child(template, step, 'none').out?.ok).toBe(true);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoint folder saves under faults', () => {
  let steps: string[] = [];

  beforeAll(async () => {
    const folder = await folderAtStep2('count');
    steps = child(folder, 3, 'count').out?.steps ?? [];
  });

  it('go through the steps of one commit: weights first, meta.json replaced last, then clean-up', () => {
    expect(steps.length).toBeGreaterThanOrEqual(10);
    const meta = steps.findIndex((s) => s.startsWith('replace the checkpoint meta.json'));
    const weights = steps.findIndex((s) => s.startsWith('replace the checkpoint weights'));
    expect(weights).toBeGreaterThan(0);
    expect(meta).toBeGreaterThan(weights);
    expect(steps.at(-1)).toMatch(/^remove the old checkpoint weights model-2\.safetensors/);
  });

  it('a kill before any step leaves a folder that loads (old or new) and saves again cleanly', async () => {
    const commit = steps.findIndex((s) => s.startsWith('replace the checkpoint meta.json'));
    for (let k = 0; k < steps.length; k++) {
      const folder = await folderAtStep2(`kill-${k}`);
      const r = child(folder, 3, 'kill', k);
      expect(r.signal, `kill before '${steps[k]}': ${r.stderr}`).toBe('SIGKILL');
      const step = await loadedStep(folder);
      expect(step, `kill before '${steps[k]}'`).toBe(k <= commit ? 2 : 3);
      // The run resumes: the next save commits, and what killed saves left behind is gone.
      await saveStep(folder, 4);
      expect(await loadedStep(folder)).toBe(4);
      const files = (await readdir(folder)).sort();
      expect(files, `after a kill before '${steps[k]}'`).toHaveLength(2);
      expect(files[0]).toBe('meta.json');
      expect(files[1]).toMatch(/^model-\d+\.safetensors$/);
    }
  });

  it('a full disk at any step fails the save naming the file, and the folder still loads', async () => {
    const commit = steps.findIndex((s) => s.startsWith('replace the checkpoint meta.json'));
    for (let k = 0; k < steps.length; k++) {
      const folder = await folderAtStep2(`enospc-${k}`);
      const r = child(folder, 3, 'enospc', k).out;
      expect(r, `ENOSPC at '${steps[k]}'`).not.toBeNull();
      if (steps[k].startsWith('remove the old checkpoint weights')) {
        // Clean-up after the commit: the save succeeded; the next save removes the file.
        expect(r?.ok).toBe(true);
      } else {
        expect(r?.ok, `ENOSPC at '${steps[k]}'`).toBe(false);
        expect(r?.error).toMatch(
          new RegExp(`^cannot [a-z .]+ '${folder}[^']*': no space left on the device \\(ENOSPC\\)$`),
        );
      }
      expect(await loadedStep(folder)).toBe(k <= commit ? 2 : 3);
      expect((await readdir(folder)).filter((f) => f.includes('.tmp-'))).toEqual([]);
      await saveStep(folder, 4);
      expect(await loadedStep(folder)).toBe(4);
    }
  });
});

describe('checkpoint folder upkeep', () => {
  it('removes temporary files of dead writers and weights no meta.json points at; keeps a live writer’s', async () => {
    const folder = join(dir, 'upkeep');
    await saveStep(folder, 1);
    // pid 2^22 + 1 is above Linux's pid_max default: no such process.
    const dead = '.model-7.safetensors.tmp-4194305-1700000000000-0';
    const live = `.model-8.safetensors.tmp-${process.ppid}-1700000000000-0`;
    await writeFile(join(folder, dead), 'torn');
    await writeFile(join(folder, live), 'in progress');
    await writeFile(join(folder, 'model-9.safetensors'), 'never committed');
    await writeFile(join(folder, 'notes.txt'), 'the user’s own file');
    await saveStep(folder, 2);
    expect((await readdir(folder)).sort()).toEqual([live, 'meta.json', 'model-10.safetensors', 'notes.txt']);
    expect(await loadedStep(folder)).toBe(2);
  });

  it('reads folders saved before generations (model.safetensors) and replaces them on the next save', async () => {
    const folder = join(dir, 'legacy');
    const tensors = { w: tf.fill([4], 5), b: tf.fill([4], -5) };
    await saveCheckpoint(folder, { tensors, metadata: { step: '5' } });
    tf.dispose(Object.values(tensors));
    // Rewrite it in the layout of earlier versions: model.safetensors, no generation.
    const { readFile, rename } = await import('node:fs/promises');
    const meta = JSON.parse(await readFile(join(folder, 'meta.json'), 'utf8'));
    await rename(join(folder, meta.weights), join(folder, 'model.safetensors'));
    const { generation: _g, ...old } = { ...meta, weights: 'model.safetensors' };
    await writeFile(join(folder, 'meta.json'), JSON.stringify(old));
    expect(await loadedStep(folder)).toBe(5);
    const t2 = { w: tf.fill([4], 6), b: tf.fill([4], -6) };
    await saveCheckpoint(folder, { tensors: t2, metadata: { step: '6' } });
    tf.dispose(Object.values(t2));
    expect((await readdir(folder)).sort()).toEqual(['meta.json', 'model-1.safetensors']);
    expect(await loadedStep(folder)).toBe(6);
  });

  it('names the file and the operation when the folder cannot be made', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const tensors = { w: tf.fill([4], 1) };
    await expect(saveCheckpoint(join(blocker, 'ckpt'), { tensors, metadata: {} })).rejects.toThrow(
      `cannot create the checkpoint folder '${join(blocker, 'ckpt')}': `,
    );
    tf.dispose(Object.values(tensors));
  });
});
