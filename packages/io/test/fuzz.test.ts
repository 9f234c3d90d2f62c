import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  decodeCheckpointHost,
  encodeCheckpointHost,
  type HostTensor,
  parseNpy,
  parseNpz,
  parsePth,
  parseSafetensors,
  parseTensorFile,
  serializeNpy,
  serializeNpz,
  serializePth,
  serializeSafetensors,
  type TensorFileFormat,
  TensorFormatError,
} from '../src/index.node.js';
import { b, f32le, get, glob, OP, put, seededInts, str, u32, u64 } from './bytes.js';

const small: Record<string, HostTensor> = {
  'enc.w': { dtype: 'float32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  'enc.b': { dtype: 'float64', shape: [2], data: new Float64Array([0.5, -0.5]) },
  steps: { dtype: 'int64', shape: [], data: new BigInt64Array([42n]) },
  mask: { dtype: 'uint8', shape: [4], data: new Uint8Array([0, 1, 1, 0]) },
};

const samples: [string, TensorFileFormat, Uint8Array][] = [
  ['legacy vgg.pth', 'pth', new Uint8Array(readFileSync('/work/shared/weights/lpips-v0.1/vgg.pth'))],
  ['zip pth', 'pth', serializePth(small)],
  ['safetensors', 'safetensors', serializeSafetensors(small, { note: 'fuzz' })],
  ['npz', 'npz', serializeNpz(small)],
  ['npz deflated', 'npz', serializeNpz(small, { compress: true })],
  ['npy', 'npy', serializeNpy(small['enc.w'])],
];

/** Run `fn`; it must either succeed or throw a TensorFormatError (never another error, never a crash). */
function outcome(fn: () => unknown): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof TensorFormatError))
      throw new Error(`expected a TensorFormatError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return 'rejected';
  }
}

function rejects(fn: () => unknown, re: RegExp): void {
  expect(fn).toThrow(TensorFormatError);
  expect(fn).toThrow(re);
}

describe('fuzz: truncated and bit-flipped files', () => {
  it('rejects every truncation of every format with a TensorFormatError', () => {
    for (const [name, format, bytes] of samples) {
      expect(
        outcome(() => parseTensorFile(bytes, format)),
        name,
      ).toBe('ok');
      // All prefixes of the small files; every 3rd of the 7 KB legacy file.
      const step = bytes.length > 2000 ? 3 : 1;
      for (let n = 0; n < bytes.length; n += step) {
        const r = outcome(() => parseTensorFile(bytes.subarray(0, n), format));
        if (r !== 'rejected') throw new Error(`${name}: prefix of ${n}/${bytes.length} bytes was accepted`);
      }
    }
  });

  it('survives random bit flips (accepted or rejected cleanly, never another error)', () => {
    const nextInt = seededInts(2024);
    const counts: Record<string, { ok: number; rejected: number }> = {};
    for (const [name, format, bytes] of samples) {
      counts[name] = { ok: 0, rejected: 0 };
      for (let i = 0; i < 400; i++) {
        const copy = bytes.slice();
        const flips = 1 + nextInt(3);
        for (let k = 0; k < flips; k++) copy[nextInt(copy.length)] ^= 1 << nextInt(8);
        counts[name][outcome(() => parseTensorFile(copy, format))]++;
      }
    }
    // CRC-protected zip entries and strict headers catch most flips; data flips in the others are legal values.
    expect(counts['zip pth'].rejected).toBeGreaterThan(300);
    expect(counts.npz.rejected).toBeGreaterThan(300);
    expect(counts['legacy vgg.pth'].ok).toBeGreaterThan(200);
    for (const c of Object.values(counts)) expect(c.ok + c.rejected).toBe(400);
  });

  it('detects every single bit flip in a checkpoint file', () => {
    const bytes = encodeCheckpointHost(small, { step: '7' });
    expect(decodeCheckpointHost(bytes).metadata).toEqual({ step: '7' });
    for (let i = 0; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i] ^= 1 << (i % 8);
      // A flip turning a header space into another space-like byte can still leave valid JSON; the CRC catches it.
      if (outcome(() => decodeCheckpointHost(copy)) !== 'rejected')
        throw new Error(`flip at byte ${i} was not detected`);
    }
  });
});

describe('fuzz: hostile files', () => {
  it('refuses dangerous or unknown pickle content, naming it', () => {
    const zipPkl = (pkl: Uint8Array) => zipSync({ 'archive/data.pkl': pkl }, { level: 0 });
    const reduceCall = (m: string, n: string) =>
      b(OP.PROTO, 2, glob(m, n), str('echo pwned'), OP.TUPLE1, OP.REDUCE, OP.STOP);
    rejects(
      () => parsePth(zipPkl(reduceCall('os', 'system'))),
      /refusing pickle global 'os\.system'.*nothing in the file is executed/,
    );
    rejects(
      () => parsePth(zipPkl(reduceCall('builtins', 'eval'))),
      /refusing pickle global 'builtins\.eval'/,
    );
    rejects(
      () => parsePth(zipPkl(reduceCall('torch.storage', '_load_from_bytes'))),
      /refusing pickle global 'torch\.storage\._load_from_bytes'/,
    );
    rejects(
      () => parsePth(zipPkl(reduceCall('numpy.core.multiarray', '_reconstruct'))),
      /refusing pickle global 'numpy\.core\.multiarray\._reconstruct'/,
    );
    const stackGlobal = b(
      OP.PROTO,
      4,
      OP.SHORT_BINUNICODE,
      10,
      'subprocess',
      OP.SHORT_BINUNICODE,
      5,
      'Popen',
      OP.STACK_GLOBAL,
      OP.STOP,
    );
    rejects(() => parsePth(zipPkl(stackGlobal)), /refusing pickle global 'subprocess\.Popen'/);
    // Even in stub mode nothing is called: the result is an inert record of the call.
    const stub = parsePth(zipPkl(reduceCall('os', 'system')), { unknownGlobals: 'stub' }).root as {
      cls: string;
      args: unknown[];
    };
    expect(stub.cls).toBe('os.system');
    expect(stub.args).toEqual(['echo pwned']);
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 2, 0x69, 'os\nsystem\n', OP.STOP))),
      /refusing pickle opcode 0x69 INST/,
    );
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, 0x82, 1, OP.STOP))), /refusing pickle opcode 0x82 EXT1/);
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, 0xff, OP.STOP))), /unknown pickle opcode 0xff/);
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, 0x21, OP.STOP))), /unknown pickle opcode 0x21 \('!'\)/);
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 9, OP.NONE, OP.STOP))), /unsupported pickle protocol 9/);
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 2, OP.NONE, OP.EMPTY_TUPLE, OP.REDUCE, OP.STOP))),
      /REDUCE on a None/,
    );
    rejects(
      () =>
        parsePth(zipPkl(b(OP.PROTO, 2, glob('torch', 'FloatStorage'), OP.EMPTY_TUPLE, OP.REDUCE, OP.STOP))),
      /may appear only as a value/,
    );
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, get(7), OP.STOP))), /memo key 7 is not defined/);
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, OP.APPEND, OP.STOP))), /stack underflow/);
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, OP.NONE, OP.NONE, OP.STOP))), /2 values on the stack/);
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 2, OP.BINUNICODE, u32(0xffffffff), 'abc'))),
      /BINUNICODE needs 4294967295 bytes/,
    );
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 2, 0x8b, u32(0x7fffffff), 1, 2))),
      /LONG4 needs 2147483647 bytes/,
    );
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 4, OP.FRAME, u64(2n ** 62n), OP.NONE, OP.STOP))),
      /FRAME length .* impossibly large/,
    );
    rejects(() => parsePth(zipPkl(b(OP.PROTO, 2, OP.BINPERSID, OP.STOP))), /stack underflow/);
    rejects(
      () => parsePth(zipPkl(b(OP.PROTO, 2, str('x'), OP.BINPERSID, OP.STOP))),
      /unsupported persistent id/,
    );
  });

  /** data.pkl for tensors cut from one float32 storage '0' of `numel` elements. */
  function tensorPickle(numel: number, size: number[], stride: number[], copies = 1): Uint8Array {
    const ints = (xs: number[]) => xs.flatMap((x) => [OP.BININT, ...u32(x)]);
    return b(
      OP.PROTO,
      2,
      OP.EMPTY_LIST,
      OP.MARK,
      glob('torch._utils', '_rebuild_tensor_v2'),
      put(0),
      OP.MARK,
      OP.MARK,
      str('storage'),
      glob('torch', 'FloatStorage'),
      str('0'),
      str('cpu'),
      OP.BININT,
      u32(numel),
      OP.TUPLE,
      OP.BINPERSID,
      OP.BININT1,
      0,
      OP.MARK,
      ints(size),
      OP.TUPLE,
      OP.MARK,
      ints(stride),
      OP.TUPLE,
      OP.NEWFALSE,
      OP.NONE,
      OP.TUPLE,
      put(1),
      OP.REDUCE,
      ...Array.from({ length: copies - 1 }, () => [...get(0), ...get(1), OP.REDUCE]).flat(),
      OP.APPENDS,
      OP.STOP,
    );
  }

  it('refuses shapes and storages that claim more than the file holds, without allocating them', () => {
    const before = process.memoryUsage().arrayBuffers;
    const pth = (pkl: Uint8Array, data: Uint8Array) =>
      zipSync({ 'archive/data.pkl': pkl, 'archive/data/0': data }, { level: 0 });
    rejects(
      () => parsePth(pth(tensorPickle(2 ** 31 - 1, [2 ** 31 - 1], [1]), b(f32le(1, 2)))),
      /storage '0' has 8 bytes, its header says 2147483647 x float32/,
    );
    rejects(
      () => parsePth(pth(tensorPickle(2, [65536, 65536], [65536, 1]), b(f32le(1, 2)))),
      /4294967296 elements but its storage holds 2/,
    );
    rejects(
      () => parsePth(pth(tensorPickle(2, [1000], [0]), b(f32le(1, 2)))),
      /1000 elements but its storage holds 2/,
    );
    rejects(
      () => parsePth(pth(tensorPickle(4, [2, 2], [3, 1]), b(f32le(1, 2, 3, 4)))),
      /reach element 4, past the storage's 4/,
    );
    rejects(
      () => parsePth(pth(tensorPickle(4, [2], [1, 1]), b(f32le(1, 2, 3, 4)))),
      /stride \[1, 1\] does not match the shape/,
    );
    // One storage key claimed as float32 by one tensor and as int64 by another.
    const retyped = (st: string) => [
      ...glob('torch._utils', '_rebuild_tensor_v2'),
      ...[
        OP.MARK,
        OP.MARK,
        ...str('storage'),
        ...glob('torch', st),
        ...str('0'),
        ...str('cpu'),
        OP.BININT1,
        2,
        OP.TUPLE,
      ],
      ...[
        OP.BINPERSID,
        OP.BININT1,
        0,
        OP.BININT1,
        1,
        OP.TUPLE1,
        OP.BININT1,
        1,
        OP.TUPLE1,
        OP.NEWFALSE,
        OP.NONE,
        OP.TUPLE,
        OP.REDUCE,
      ],
    ];
    const twoTypes = b(
      OP.PROTO,
      2,
      OP.EMPTY_LIST,
      OP.MARK,
      retyped('FloatStorage'),
      retyped('LongStorage'),
      OP.APPENDS,
      OP.STOP,
    );
    rejects(
      () => parsePth(pth(twoTypes, b(f32le(1, 2)))),
      /storage '0' is referenced with two different types or sizes/,
    );
    // 64 tensors sharing one 256 KiB storage would decode to 16 MiB: over the default budget.
    const shared = pth(tensorPickle(65536, [65536], [1], 64), new Uint8Array(4 * 65536));
    rejects(() => parsePth(shared), /exceed the decoding budget/);
    expect(Object.keys(parsePth(shared, { maxBytes: 32 << 20 }).tensors).length).toBe(64);
    // safetensors: a header claiming a 2^40-element tensor is refused from the header alone.
    const header = '{"x":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}';
    rejects(() => parseSafetensors(b(u64(header.length), header, f32le(1))), /past the 4-byte data section/);
    rejects(() => parseSafetensors(b(u64(2n ** 63n), '{}')), /exceeds the 100 MB limit/);
    // npy claiming a huge array with 4 bytes of data.
    const npyHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }\n";
    rejects(
      () =>
        parseNpy(b(0x93, 'NUMPY', 1, 0, npyHeader.length & 0xff, npyHeader.length >> 8, npyHeader, f32le(1))),
      /needs 40000000000 data bytes/,
    );
    // npz whose end record claims 65535 entries in a tiny central directory.
    const z = serializeNpz(small);
    const lie = z.slice();
    new DataView(lie.buffer).setUint16(lie.length - 14, 0xfffe, true);
    new DataView(lie.buffer).setUint16(lie.length - 12, 0xfffe, true);
    rejects(() => parseNpz(lie), /corrupt zip central directory/);
    const far = z.slice();
    new DataView(far.buffer).setUint32(far.length - 6, 0x7fffffff, true);
    rejects(() => parseNpz(far), /corrupt zip central directory/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('refuses deeply nested and self-referencing structures cleanly', () => {
    const deep = b(
      OP.PROTO,
      2,
      OP.EMPTY_LIST,
      ...Array.from({ length: 300 }, () => [OP.EMPTY_LIST, OP.APPEND]).flat(),
      OP.STOP,
    );
    // APPEND puts each new list into the previous one only one level deep, so build real nesting with MARK/LIST.
    const nested = b(
      OP.PROTO,
      2,
      ...Array.from({ length: 300 }, () => [OP.MARK]).flat(),
      OP.EMPTY_LIST,
      ...Array.from({ length: 300 }, () => [0x6c]).flat(),
      OP.STOP,
    );
    const z = (pkl: Uint8Array) => zipSync({ 'archive/data.pkl': pkl }, { level: 0 });
    expect(parsePth(z(deep)).tensors).toEqual({});
    rejects(() => parsePth(z(nested)), /nesting deeper than 256 levels/);
    // A list containing itself: l = []; l.append(l).
    const cyclic = b(OP.PROTO, 2, OP.EMPTY_LIST, put(0), get(0), OP.APPEND, OP.STOP);
    expect(parsePth(z(cyclic)).tensors).toEqual({});
  });
});
