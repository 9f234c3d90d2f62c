/**
 * Threads for the wasm backend in Node, each case in its own process (the backend, and its thread
 * counts, are set once per process): threads: 2 and 3 (more than this machine may have), with
 * xnnpackThreads as many or 1, give exactly those counts; all of them give bitwise the same matMul,
 * conv2d and transformer-block values as threads: 1 (tfjs's single-threaded build; the products on our
 * kernel's worker threads); the defaults are the CPUs and half of them; a second setupBackend keeps
 * the pool and warns when asked for another count; a process that used the threads exits by itself; a
 * worker that throws as it starts, or never answers, leaves the single-threaded build and one warning.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../src/backend/setup.node.js';
import {
  defaultWasmThreads,
  defaultXnnpackThreads,
  WASM_MAX_THREADS,
} from '../src/backend/wasm-threads.node.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'wasm-threads-child.ts');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  out: {
    backend: string;
    threads: number;
    threadsAfter: number;
    xnnpack: number;
    globalWorker: string;
    outputs: Record<string, string>;
  } | null;
}

/** Run the child; a child that does not exit by itself within 20 s is killed (signal SIGKILL). */
function child(threads: string, mode: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // Without LDMAE_WASM_THREADS (npm test sets it to 1), so that 'default' gets the library's default.
    const { LDMAE_WASM_THREADS: _, ...env } = process.env;
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, threads, mode], {
      cwd: join(import.meta.dirname, '..'),
      env,
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      resolve({ code, signal, stderr, out: line ? JSON.parse(line) : null });
    });
  });
}

const runs: Record<string, ChildResult> = {};

beforeAll(async () => {
  const cases = {
    one: ['1', 'ok'],
    two: ['2/2', 'again'],
    three: ['3/3', 'ok'],
    split: ['2/1', 'ok'],
    defaults: ['default', 'ok'],
    fail: ['2', 'fail'],
    hang: ['2', 'hang'],
  };
  const done = await Promise.all(Object.values(cases).map(([t, m]) => child(t, m)));
  Object.keys(cases).forEach((k, i) => {
    runs[k] = done[i];
  });
}, 60_000);

describe('wasm threads in Node', () => {
  it('threads and xnnpackThreads give exactly those counts and the single-threaded values, bit for bit', () => {
    const cpus = availableParallelism();
    const defaults = Math.min(cpus, WASM_MAX_THREADS);
    for (const [name, n, x] of [
      ['one', 1, 1],
      ['two', 2, 2],
      ['three', 3, 3],
      ['split', 2, 1],
      ['defaults', defaults, Math.max(1, Math.min(defaults, Math.floor(cpus / 2)))],
    ] as const) {
      const r = runs[name];
      expect(r.code, r.stderr).toBe(0);
      expect(r.signal).toBeNull(); // it exited by itself: the workers did not hold it
      expect(r.out).toMatchObject({
        backend: 'wasm',
        threads: n,
        threadsAfter: n,
        xnnpack: x,
        globalWorker: 'undefined',
      });
      // 'two' asked for threads: 1 once the pool ran: it keeps its 2 threads and says so.
      expect(r.stderr).toBe(
        name === 'two'
          ? "ldmae: the wasm backend already runs with 2 threads (2 in XNNPACK's pool) in this process; threads: 1 (1 in XNNPACK's pool) take effect in a new process\n"
          : '',
      );
    }
    const ref = runs.one.out!.outputs;
    expect(Object.keys(ref)).toEqual(['matMul', 'conv2d', 'block']);
    // Products run on our kernel on every thread (each entry of C on one thread, in one order).
    for (const name of ['two', 'three', 'split', 'defaults']) expect(runs[name].out!.outputs).toEqual(ref);
  });

  it('a worker that fails to start leaves the single-threaded build and one warning', () => {
    for (const [name, why] of [
      ['fail', 'simulated worker failure'],
      ['hang', 'its workers had not started after 1 s'],
    ] as const) {
      const r = runs[name];
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.trim().split('\n')).toEqual([
        `ldmae: wasm threads could not start (${why}); using the single-threaded wasm build`,
      ]);
      expect(r.out).toMatchObject({ backend: 'wasm', threads: 1, globalWorker: 'undefined' });
      expect(r.out!.outputs).toEqual(runs.one.out!.outputs);
    }
  });

  it('rejects thread counts that are not positive integers, naming the option', async () => {
    for (const [key, v] of [
      ['threads', 0],
      ['threads', 1.5],
      ['xnnpackThreads', 0],
      ['xnnpackThreads', -2],
      ['xnnpackThreads', Number.NaN],
    ] as const) {
      await expect(setupBackend({ backend: 'wasm', [key]: v })).rejects.toThrow(
        `setupBackend: ${key} must be a positive integer, got ${v}`,
      );
    }
  });

  it('defaults to LDMAE_WASM_THREADS, else the CPUs available, 1 to 8; XNNPACK to half the CPUs', () => {
    const saved = process.env.LDMAE_WASM_THREADS;
    const cpus = availableParallelism();
    try {
      delete process.env.LDMAE_WASM_THREADS;
      expect(defaultWasmThreads()).toBe(Math.min(cpus, WASM_MAX_THREADS));
      process.env.LDMAE_WASM_THREADS = '3';
      expect(defaultWasmThreads()).toBe(3);
      process.env.LDMAE_WASM_THREADS = '99';
      expect(defaultWasmThreads()).toBe(WASM_MAX_THREADS);
      process.env.LDMAE_WASM_THREADS = 'many';
      expect(defaultWasmThreads()).toBe(Math.min(cpus, WASM_MAX_THREADS));
      const half = Math.max(1, Math.floor(cpus / 2));
      expect(defaultXnnpackThreads(1)).toBe(1);
      expect(defaultXnnpackThreads(8)).toBe(Math.min(half, 8));
      expect(defaultXnnpackThreads(2)).toBe(Math.min(half, 2));
    } finally {
      if (saved === undefined) delete process.env.LDMAE_WASM_THREADS;
      else process.env.LDMAE_WASM_THREADS = saved;
    }
  });
});
