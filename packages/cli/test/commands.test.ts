/**
 * The smaller commands in-process: convert, info, and a training run interrupted by Ctrl-C that keeps its
 * checkpoint, says how to resume, and resumes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadAutoencoderKL } from '@ldmae/baselines';
import { type Autoencoder, readTensorFile, setupBackend, writeTensorFile } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAutoencoder } from '../src/autoencoders.js';
import { Capture, run, tempDir } from './helpers.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('convert', () => {
  it('converts safetensors to npz and back, keeping every value', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.safetensors');
    const data = Float32Array.from({ length: 6 }, (_, i) => i / 3);
    await writeTensorFile(a, {
      'w.x': { dtype: 'float32', shape: [2, 3], data },
      n: { dtype: 'int32', shape: [1], data: Int32Array.of(7) },
    });
    const r = await run(['convert', a, join(dir, 'b.npz')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*b\.npz: 2 tensors/);
    const r2 = await run(['convert', join(dir, 'b.npz'), join(dir, 'c.safetensors')]);
    expect(r2.code).toBe(0);
    const back = await readTensorFile(join(dir, 'c.safetensors'));
    expect(Array.from(back.tensors['w.x'].data as Float32Array)).toEqual(Array.from(data));
    expect(back.tensors['w.x'].shape).toEqual([2, 3]);
    expect(Array.from(back.tensors.n.data as Int32Array)).toEqual([7]);
  });

  it('--select keeps one prefix; --stub-unknown-globals reads checkpoints that pickle other objects', async () => {
    const dir = tempDir();
    const a = join(dir, 'ckpt.pth');
    await writeTensorFile(a, {
      'model.w': { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) },
      'ema.w': { dtype: 'float32', shape: [2], data: Float32Array.of(3, 4) },
    });
    const r = await run(['convert', a, join(dir, 'ema.safetensors'), '--select', 'ema']);
    expect(r.code, r.stderr).toBe(0);
    const ema = await readTensorFile(join(dir, 'ema.safetensors'));
    expect(Object.keys(ema.tensors)).toEqual(['w']);
    expect(Array.from(ema.tensors.w.data as Float32Array)).toEqual([3, 4]);
    const bad = await run(['convert', a, join(dir, 'x.safetensors'), '--select', 'opt']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("no tensor under 'opt'");

    // {'model': OrderedDict(), 'args': argparse.Namespace(lr=0.5)}, pickled as torch.save does.
    const enc = (s: string) => [...new TextEncoder().encode(s)];
    const short = (s: string) => [0x8c, s.length, ...enc(s)];
    const pkl = Uint8Array.from([
      ...[0x80, 2, 0x7d, 0x28], // PROTO 2, EMPTY_DICT, MARK
      ...short('model'),
      ...[0x63, ...enc('collections\nOrderedDict\n'), 0x29, 0x52], // GLOBAL, EMPTY_TUPLE, REDUCE
      ...short('args'),
      ...[0x63, ...enc('argparse\nNamespace\n'), 0x29, 0x81, 0x7d], // GLOBAL, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT
      ...short('lr'),
      ...[0x47, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0], // BINFLOAT 0.5
      ...[0x73, 0x62, 0x75, 0x2e], // SETITEM, BUILD, SETITEMS, STOP
    ]);
    const pth = join(dir, 'mae.pth');
    writeFileSync(pth, zipSync({ 'archive/data.pkl': pkl }, { level: 0 }));
    const refused = await run(['convert', pth, join(dir, 'mae.safetensors')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("refusing pickle global 'argparse.Namespace'");
    expect(refused.stderr).toContain('--stub-unknown-globals');
    const ok = await run(['convert', pth, join(dir, 'mae.npz'), '--stub-unknown-globals']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/wrote .*mae\.npz: 0 tensors/);
  });

  it('refuses an unknown extension and a missing input', async () => {
    const dir = tempDir();
    const r = await run(['convert', join(dir, 'a.safetensors'), join(dir, 'b.txt')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("<output> '");
    const r2 = await run(['convert', join(dir, 'missing.npz'), join(dir, 'b.npy')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('does not exist');
  });
});

it('info reports the backend, threads and versions (as JSON with --json)', async () => {
  const r = await run(['info', '--json']);
  expect(r.code).toBe(0);
  const line = r.out.json().at(-1)!;
  // setupBackend's default: LDMAE_WASM_THREADS when set (the test suite sets 1), else half the
  // CPUs; 1 to 8 (wasm's threaded build in Node).
  const env = Number(process.env.LDMAE_WASM_THREADS);
  const n = Number.isInteger(env) && env > 0 ? env : Math.floor(availableParallelism() / 2);
  expect(line).toMatchObject({
    event: 'result',
    backend: 'wasm',
    threads: Math.max(1, Math.min(n, 8)),
  });
  expect((line.versions as Record<string, string>)['@ldmae/cli']).toBe('0.1.0');
  expect((line.versions as Record<string, string>)['@tensorflow/tfjs-core']).toMatch(/^4\./);
});

it('Ctrl-C stops training between steps, keeps the checkpoint, says how to resume; --resume continues', async () => {
  const out = join(tempDir(), 'ae');
  const args = ['train-ae', '--steps', '400', '--batch-size', '4', '--checkpoint-every', '400', '--out', out];
  const stdout = new Capture();
  let sent = false;
  // The first progress line means a step has finished: interrupt then, as a user pressing Ctrl-C would.
  stdout.onWrite((s) => {
    if (!sent && s.includes('"event":"progress"')) {
      sent = true;
      process.emit('SIGINT', 'SIGINT');
    }
  });
  const r = await run([...args, '--json'], { stdout });
  expect(r.code).toBe(130);
  const err = r.out.json().find((l) => l.event === 'error')!;
  expect(err.message).toMatch(
    /train-ae interrupted at step \d+ of 400; the checkpoint in .*checkpoint holds step \d+/,
  );
  expect(err.hint).toBe(`resume with: ldmae ${args.join(' ')} --json --resume`);
  const stopped = Number(/at step (\d+)/.exec(err.message as string)![1]);
  expect(stopped).toBeGreaterThanOrEqual(1);
  const meta = JSON.parse(readFileSync(join(out, 'checkpoint', 'meta.json'), 'utf8'));
  expect(Number(meta.metadata.step)).toBe(stopped);
  expect(existsSync(join(out, 'autoencoder.safetensors'))).toBe(false);

  // Without --resume the checkpoint is not overwritten.
  const again = await run(args);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('holds the checkpoint of an earlier train-ae run');

  // --resume continues from the saved step to the new total.
  const total = stopped + 2;
  const resumed = await run([...args.slice(0, 2), String(total), ...args.slice(3), '--resume']);
  expect(resumed.code, resumed.stderr).toBe(0);
  expect(resumed.stderr).toMatch(new RegExp(`train-ae: ${total}/${total} steps`));
  const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  expect(log.at(-1)).toBe(total);
  expect(existsSync(join(out, 'autoencoder.safetensors'))).toBe(true);
  expect(existsSync(join(out, 'reconstructions.png'))).toBe(true);
});

it('--max-minutes stops training when its time is used, with the schedule run to its end', async () => {
  const out = join(tempDir(), 'ae');
  const r = await run([
    'train-ae',
    '--steps',
    '100000',
    '--batch-size',
    '4',
    '--max-minutes',
    '0.04',
    '--out',
    out,
  ]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/train-ae: \d+\/100000 steps in [\d.]+ s .*; its time budget was used/);
  const meta = JSON.parse(readFileSync(join(out, 'checkpoint', 'meta.json'), 'utf8')).metadata;
  expect(Number(meta.progress)).toBe(1);
  const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // The last step is logged, at the saved step, with the cosine near its floor (lr / 10 = 2e-4).
  expect(log.at(-1).step).toBe(Number(meta.step));
  expect(log.at(-1).step).toBeLessThan(100000);
  expect(log.at(-1).lr).toBeLessThan(3e-4);
  expect(existsSync(join(out, 'autoencoder.safetensors'))).toBe(true);
});

describe('baselines', () => {
  for (const model of ['ae', 'sd-vae']) {
    it(`train-ae --model ${model} saves a model that the other commands load by path`, async () => {
      const dir = tempDir();
      const r = await run([
        'train-ae',
        '--model',
        model,
        '--steps',
        '2',
        '--batch-size',
        '4',
        '--out',
        join(dir, 'ae'),
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`trained ${model} 'f4d4-tiny' for 2 steps`);
      const ae = join(dir, 'ae', 'autoencoder.safetensors');
      const rec = await run(['reconstruct', '--ae', ae, '--n', '8', '--json', '--out', join(dir, 'rec')]);
      expect(rec.code, rec.stdout).toBe(0);
      expect(rec.out.json().at(-1)).toMatchObject({ event: 'result', autoencoder: model, count: 8 });
      // The training checkpoint (with the objective's state beside the model) loads as the autoencoder too.
      const fromCkpt = await run([
        'reconstruct',
        '--ae',
        join(dir, 'ae', 'checkpoint'),
        '--n',
        '4',
        '--out',
        join(dir, 'rec2'),
      ]);
      expect(fromCkpt.code, fromCkpt.stderr).toBe(0);
      // The library's loader reads what the CLI wrote, as the CLI does (same outputs).
      const x = tf.randomUniform([2, 28, 28, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      const outputs = (a: Autoencoder) =>
        tf.tidy(() => {
          const p = a.encode(x);
          const y = a.decode(p.mean as tf.Tensor4D);
          p.dispose();
          return Array.from(y.dataSync());
        });
      const cli = await loadAutoencoder(ae);
      for (const path of [ae, join(dir, 'ae', 'checkpoint')]) {
        const { model } = await loadAutoencoderKL(path);
        expect(model.name).toBe(cli.ae.name);
        expect(outputs(model), path).toEqual(outputs(cli.ae));
        model.dispose();
      }
      cli.ae.dispose();
      x.dispose();
    });
  }
});
