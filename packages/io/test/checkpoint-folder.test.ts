import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crc32,
  decodeCheckpointFolder,
  decodeCheckpointFolderHost,
  loadCheckpoint,
  parseCheckpointMeta,
  saveCheckpoint,
  serializeSafetensors,
  TensorFormatError,
  verifyCheckpointWeights,
} from '../src/index.node.js';

let dir: string;
let meta: Uint8Array;
let weights: Uint8Array;
const metadata = { step: '7', config: JSON.stringify({ width: 4 }) };

function payload() {
  return {
    tensors: {
      'model.w': tf.tensor2d([
        [1, -2],
        [3.25, 4],
      ]),
      'model.n': tf.tensor1d([5, -6, 7], 'int32'),
      'model.mask': tf.tensor1d([true, false], 'bool'),
    },
    metadata: { ...metadata },
  };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ldmae-folder-'));
  const p = payload();
  await saveCheckpoint(join(dir, 'ckpt'), p);
  tf.dispose(Object.values(p.tensors));
  meta = new Uint8Array(await readFile(join(dir, 'ckpt', 'meta.json')));
  weights = new Uint8Array(await readFile(join(dir, 'ckpt', 'model-1.safetensors')));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const editMeta = (edit: (m: Record<string, unknown>) => void) => {
  const m = JSON.parse(text(meta));
  edit(m);
  return JSON.stringify(m);
};

describe('checkpoint folders from bytes', () => {
  it('decodes the two files of a saved folder to what loadCheckpoint gives, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const fromDisk = await loadCheckpoint(join(dir, 'ckpt'));
    for (const m of [meta, text(meta)]) {
      const fromBytes = decodeCheckpointFolder({ meta: m, weights });
      expect(fromBytes.metadata).toEqual(fromDisk.metadata);
      expect(fromBytes.metadata).toEqual(metadata);
      expect(Object.keys(fromBytes.tensors).sort()).toEqual(Object.keys(fromDisk.tensors).sort());
      for (const [k, t] of Object.entries(fromDisk.tensors)) {
        expect(fromBytes.tensors[k].dtype, k).toBe(t.dtype);
        expect(fromBytes.tensors[k].shape, k).toEqual(t.shape);
        expect(Array.from(fromBytes.tensors[k].dataSync()), k).toEqual(Array.from(t.dataSync()));
      }
      tf.dispose(Object.values(fromBytes.tensors));
    }
    expect(Array.from(fromDisk.tensors['model.w'].dataSync())).toEqual([1, -2, 3.25, 4]);
    tf.dispose(Object.values(fromDisk.tensors));
    // The host variant creates no tensors at all.
    const host = decodeCheckpointFolderHost({ meta, weights });
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(host.tensors['model.n'].data as Int32Array)).toEqual([5, -6, 7]);
    expect(host.metadata).toEqual(metadata);
  });

  it('parses meta.json into the fields it checks', () => {
    const m = parseCheckpointMeta(meta);
    expect(m).toEqual({
      weights: 'model-1.safetensors',
      generation: 1,
      bytes: weights.length,
      crc32: crc32(weights).toString(16).padStart(8, '0'),
      metadata,
    });
    expect(() => verifyCheckpointWeights(m, weights.length, crc32(weights))).not.toThrow();
    expect(() => verifyCheckpointWeights(m, weights.length + 1, crc32(weights))).toThrow(
      /'model-1\.safetensors' \(\d+ bytes, crc [0-9a-f]{8}\) does not match meta\.json/,
    );
  });

  it('rejects a corrupt weights file, naming both files, before creating any tensor', () => {
    const before = tf.memory().numTensors;
    const bad = weights.slice();
    bad[bad.length - 2] ^= 0x10;
    const files = { meta, weights: bad, metaPath: 'run/meta.json', weightsPath: 'run/model.safetensors' };
    expect(() => decodeCheckpointFolder(files)).toThrow(TensorFormatError);
    expect(() => decodeCheckpointFolder(files)).toThrow(
      new RegExp(
        `'run/model\\.safetensors' \\(${bad.length} bytes, crc ${crc32(bad).toString(16).padStart(8, '0')}\\) does not match meta\\.json \\('run/meta\\.json': ${weights.length} bytes, crc ${crc32(weights).toString(16).padStart(8, '0')}\\): corrupt`,
      ),
    );
    // Truncated: the size differs, and the default names are used.
    expect(() => decodeCheckpointFolder({ meta, weights: weights.subarray(0, 100) })).toThrow(
      /'model-1\.safetensors' \(100 bytes.*does not match meta\.json \('meta\.json'/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad meta.json files with what was expected, in the browser and in Node alike', async () => {
    const before = tf.memory().numTensors;
    const cases: [string, string, RegExp][] = [
      ['bad JSON', '{"format": "ldmae-checkpoint",', /meta\.json' is not valid JSON \(/],
      ['not an object', '[1, 2]', /not an LDMAE checkpoint description: expected a JSON object/],
      [
        'wrong format',
        editMeta((m) => {
          m.format = 'something-else';
        }),
        /not an LDMAE checkpoint description: expected format 'ldmae-checkpoint', got "something-else"/,
      ],
      [
        'no format',
        editMeta((m) => {
          delete m.format;
        }),
        /expected format 'ldmae-checkpoint', got none/,
      ],
      [
        'newer version',
        editMeta((m) => {
          m.version = 2;
        }),
        /version 2 is not supported \(expected 1\)/,
      ],
      [
        'weights with a slash',
        editMeta((m) => {
          m.weights = '../other/model.safetensors';
        }),
        /expected 'weights' to be a file name in the folder \(no slashes\), got "\.\.\/other\/model\.safetensors"/,
      ],
      [
        'weights with a backslash',
        editMeta((m) => {
          m.weights = 'sub\\model.safetensors';
        }),
        /expected 'weights' to be a file name in the folder \(no slashes\)/,
      ],
      [
        'bytes not a number',
        editMeta((m) => {
          m.bytes = String(m.bytes);
        }),
        /expected 'bytes' to be a non-negative integer, got "\d+"/,
      ],
      [
        'crc upper-case',
        editMeta((m) => {
          m.crc32 = String(m.crc32)
            .toUpperCase()
            .replace(/^[0-9]/, 'A');
        }),
        /expected 'crc32' to be 8 lower-case hex digits/,
      ],
      [
        'metadata not strings',
        editMeta((m) => {
          m.metadata = { step: 7 };
        }),
        /expected metadata\['step'\] to be a string, got number/,
      ],
    ];
    for (const [name, json, re] of cases) {
      expect(() => decodeCheckpointFolder({ meta: json, weights }), name).toThrow(TensorFormatError);
      expect(() => decodeCheckpointFolder({ meta: json, weights }), name).toThrow(re);
      // The Node loader shares the check and names the file by its path.
      const folder = join(dir, `bad-${name.replace(/ /g, '-')}`);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'meta.json'), json);
      await writeFile(join(folder, 'model.safetensors'), weights);
      await expect(loadCheckpoint(folder), name).rejects.toThrow(re);
      await expect(loadCheckpoint(folder), name).rejects.toThrow(`'${join(folder, 'meta.json')}' is not`);
    }
    await mkdir(join(dir, 'no-meta'));
    await expect(loadCheckpoint(join(dir, 'no-meta'))).rejects.toThrow(
      /no-meta\/meta\.json' is missing or unreadable .*expected the folder's meta\.json/,
    );
    expect(() => decodeCheckpointFolder({ meta, weights: 'x' as never })).toThrow(
      /files must be \{ meta: Uint8Array \| string, weights: Uint8Array \}/,
    );
    expect(() => parseCheckpointMeta(5 as never, 'a/meta.json')).toThrow(
      /json must be a string or a Uint8Array \(the bytes of 'a\/meta\.json'\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks the weights themselves too: a safetensors file without a checkpoint CRC is named', () => {
    const plain = serializeSafetensors({
      w: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) },
    });
    const m = JSON.stringify({
      format: 'ldmae-checkpoint',
      version: 1,
      weights: 'model.safetensors',
      bytes: plain.length,
      crc32: crc32(plain).toString(16).padStart(8, '0'),
    });
    expect(() =>
      decodeCheckpointFolder({ meta: m, weights: plain, weightsPath: 'x/model.safetensors' }),
    ).toThrow(/^checkpoint: 'x\/model\.safetensors': no 'ldmae\.io\.crc32' checksum/);
    const loose = decodeCheckpointFolderHost({ meta: m, weights: plain }, { requireChecksum: false });
    expect(Array.from(loose.tensors.w.data as Float32Array)).toEqual([1, 2]);
    expect(loose.metadata).toEqual({});
  });
});
