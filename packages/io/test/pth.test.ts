import { readFileSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  type HostTensor,
  PyDict,
  PyObject,
  parsePth,
  parseTensorFile,
  serializePth,
  TensorFormatError,
} from '../src/index.node.js';
import { b, f32le, get, glob, OP, put, str, u64 } from './bytes.js';

const LPIPS = '/work/shared/weights/lpips-v0.1';

const sum = (t: HostTensor) => Array.from(t.data as Float32Array).reduce((a, v) => a + v, 0);

describe('legacy .pth (torch < 1.6)', () => {
  it('reads the LPIPS vgg head: five [1, C, 1, 1] weights with the reference sums', () => {
    const { tensors, root } = parsePth(readFileSync(`${LPIPS}/vgg.pth`));
    const channels = [64, 128, 256, 512, 512];
    const sums = [6.9259917, 8.85833401, 17.515006, 51.521323, 47.0348538];
    expect(Object.keys(tensors)).toEqual(channels.map((_, i) => `lin${i}.model.1.weight`));
    channels.forEach((c, i) => {
      const t = tensors[`lin${i}.model.1.weight`];
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([1, c, 1, 1]);
      expect(Math.abs(sum(t) - sums[i])).toBeLessThan(1e-5);
    });
    // The OrderedDict's BUILD state carries torch's per-module version metadata.
    expect(root).toBeInstanceOf(PyDict);
    expect((root as PyDict).attrs._metadata).toBeInstanceOf(PyDict);
    expect(((root as PyDict).attrs._metadata as PyDict).get('lin0.model.1')).toBeInstanceOf(PyDict);
  });

  it('reads the alex and squeeze heads (5 and 7 layers)', () => {
    expect(Object.keys(parsePth(readFileSync(`${LPIPS}/alex.pth`)).tensors).length).toBe(5);
    const sq = parsePth(readFileSync(`${LPIPS}/squeeze.pth`)).tensors;
    expect(Object.values(sq).map((t) => t.shape[1])).toEqual([64, 128, 256, 384, 384, 512, 512]);
  });

  it('reads a hand-made legacy file with Python 2 strings and a storage view', () => {
    const pid = (view: Uint8Array) =>
      b(
        OP.MARK,
        OP.SHORT_BINSTRING,
        7,
        'storage',
        glob('torch', 'FloatStorage'),
        OP.SHORT_BINSTRING,
        2,
        'k1',
        OP.SHORT_BINSTRING,
        3,
        'cpu',
        OP.BININT1,
        4,
        view,
        OP.TUPLE,
      );
    const tensor = (view: Uint8Array, offset: number) =>
      b(
        glob('torch._utils', '_rebuild_tensor_v2'),
        OP.MARK,
        pid(view),
        OP.BINPERSID,
        OP.BININT1,
        offset,
        OP.BININT1,
        2,
        OP.TUPLE1,
        OP.BININT1,
        1,
        OP.TUPLE1,
        OP.NEWFALSE,
        glob('collections', 'OrderedDict'),
        OP.EMPTY_TUPLE,
        OP.REDUCE,
        OP.TUPLE,
        OP.REDUCE,
      );
    const file = b(
      [OP.PROTO, 2, OP.LONG1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, OP.STOP],
      [OP.PROTO, 2, OP.BININT2, 0xe9, 0x03, OP.STOP],
      [OP.PROTO, 2, OP.EMPTY_DICT, OP.SHORT_BINSTRING, 13],
      'little_endian',
      [OP.NEWTRUE, OP.SETITEM, OP.STOP],
      [OP.PROTO, 2, OP.EMPTY_DICT, OP.MARK, OP.SHORT_BINSTRING, 1],
      'a',
      tensor(b(OP.NONE), 1),
      [OP.SHORT_BINSTRING, 1],
      'b',
      tensor(b(OP.MARK, OP.SHORT_BINSTRING, 3, 'k1v', OP.BININT1, 2, OP.BININT1, 2, OP.TUPLE), 0),
      [OP.SETITEMS, OP.STOP],
      [OP.PROTO, 2, OP.EMPTY_LIST, OP.SHORT_BINSTRING, 2],
      'k1',
      [OP.APPEND, OP.STOP],
      u64(4),
      f32le(10, 20, 30, 40),
    );
    const { tensors } = parsePth(file);
    expect(tensors.a).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([20, 30]) });
    expect(tensors.b).toEqual({ dtype: 'float32', shape: [2], data: new Float32Array([30, 40]) });
    expect(() => parsePth(file.subarray(0, file.length - 4))).toThrow(/data of storage 'k1' needs 16 bytes/);
    expect(() => parsePth(b(file, 0))).toThrow(/1 unexpected trailing bytes/);
  });
});

/** data.pkl of `torch.save({'conv.weight': [2,1,1,2] float32, 'bn.num_batches_tracked': int64 scalar})`, protocol 2, as CPython pickles it. */
function torchStateDictPickle(): Uint8Array {
  return b(
    [OP.PROTO, 2],
    glob('collections', 'OrderedDict'),
    put(0),
    [OP.EMPTY_TUPLE, OP.REDUCE],
    put(1),
    OP.MARK,
    str('conv.weight'),
    put(2),
    glob('torch._utils', '_rebuild_tensor_v2'),
    put(3),
    OP.MARK,
    OP.MARK,
    str('storage'),
    put(4),
    glob('torch', 'FloatStorage'),
    put(5),
    str('0'),
    put(6),
    str('cpu'),
    put(7),
    [OP.BININT1, 4, OP.TUPLE],
    put(8),
    OP.BINPERSID,
    [OP.BININT1, 0],
    [OP.MARK, OP.BININT1, 2, OP.BININT1, 1, OP.BININT1, 1, OP.BININT1, 2, OP.TUPLE],
    put(9),
    [OP.MARK, OP.BININT1, 2, OP.BININT1, 2, OP.BININT1, 2, OP.BININT1, 1, OP.TUPLE],
    put(10),
    OP.NEWFALSE,
    get(0),
    [OP.EMPTY_TUPLE, OP.REDUCE],
    put(11),
    OP.TUPLE,
    put(12),
    OP.REDUCE,
    put(13),
    str('bn.num_batches_tracked'),
    put(14),
    get(3),
    OP.MARK,
    OP.MARK,
    get(4),
    glob('torch', 'LongStorage'),
    put(15),
    str('1'),
    put(16),
    get(7),
    [OP.BININT1, 1, OP.TUPLE],
    put(17),
    OP.BINPERSID,
    [OP.BININT1, 0, OP.EMPTY_TUPLE, OP.EMPTY_TUPLE, OP.NEWFALSE],
    get(0),
    [OP.EMPTY_TUPLE, OP.REDUCE],
    put(18),
    OP.TUPLE,
    put(19),
    OP.REDUCE,
    put(20),
    OP.SETITEMS,
    OP.STOP,
  );
}

const convW = [0.5, -1, 2, 3.25];

describe('zip .pth (torch >= 1.6)', () => {
  it('reads a torch.save archive built from the format description', () => {
    const file = zipSync(
      {
        'archive/data.pkl': torchStateDictPickle(),
        'archive/byteorder': new TextEncoder().encode('little'),
        'archive/data/0': b(f32le(...convW)),
        'archive/data/1': b(u64(1234)),
        'archive/version': new TextEncoder().encode('3\n'),
      },
      { level: 0 },
    );
    const { tensors } = parsePth(file);
    expect(tensors['conv.weight']).toEqual({
      dtype: 'float32',
      shape: [2, 1, 1, 2],
      data: new Float32Array(convW),
    });
    expect(tensors['bn.num_batches_tracked']).toEqual({
      dtype: 'int64',
      shape: [],
      data: new BigInt64Array([1234n]),
    });
    // Any top-level folder name works (torch uses the file stem).
    const renamed = zipSync(
      {
        'my_model/data.pkl': torchStateDictPickle(),
        'my_model/data/0': b(f32le(...convW)),
        'my_model/data/1': b(u64(1)),
      },
      { level: 0 },
    );
    expect(parseTensorFile(renamed).tensors['conv.weight'].shape).toEqual([2, 1, 1, 2]);
  });

  it('writes data.pkl byte for byte as CPython pickles a torch state dict, with 64-byte aligned storages', () => {
    const file = serializePth({
      'conv.weight': { dtype: 'float32', shape: [2, 1, 1, 2], data: new Float32Array(convW) },
      'bn.num_batches_tracked': { dtype: 'int64', shape: [], data: new BigInt64Array([1234n]) },
    });
    const entries = unzipSync(file);
    expect(Object.keys(entries)).toEqual([
      'archive/data.pkl',
      'archive/byteorder',
      'archive/data/0',
      'archive/data/1',
      'archive/version',
    ]);
    expect(entries['archive/data.pkl']).toEqual(torchStateDictPickle());
    expect(entries['archive/data/0']).toEqual(b(f32le(...convW)));
    expect(entries['archive/data/1']).toEqual(b(u64(1234)));
    expect(new TextDecoder().decode(entries['archive/version'])).toBe('3\n');
    // Each storage's bytes start on a 64-byte boundary of the file, as PyTorch's writer aligns them.
    for (const k of ['archive/data/0', 'archive/data/1']) {
      const name = new TextEncoder().encode(k);
      const p = indexOf(file, name);
      const view = new DataView(file.buffer, file.byteOffset);
      expect(view.getUint32(p - 30, true)).toBe(0x04034b50);
      const at = p + name.length + view.getUint16(p - 2, true);
      expect(file.subarray(at, at + entries[k].length)).toEqual(entries[k]);
      expect(at % 64, k).toBe(0);
    }
  });

  it('round-trips every dtype, including half types kept raw and many tensors (LONG_BINPUT memo)', () => {
    const tensors: Record<string, HostTensor> = {};
    for (let i = 0; i < 90; i++)
      tensors[`layer.${i}.w`] = {
        dtype: 'float32',
        shape: [2, 2],
        data: new Float32Array([i, i + 1, i + 2, i + 3]),
      };
    Object.assign(tensors, {
      d: { dtype: 'float64', shape: [1], data: new Float64Array([1e300]) },
      h: { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0x7bff]) },
      bf: { dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x3f80]) },
      i: { dtype: 'int32', shape: [1], data: new Int32Array([-5]) },
      s: { dtype: 'int16', shape: [1], data: new Int16Array([-300]) },
      c: { dtype: 'int8', shape: [1], data: new Int8Array([-3]) },
      u: { dtype: 'uint8', shape: [70000], data: new Uint8Array(70000).fill(7) },
      m: { dtype: 'bool', shape: [1], data: new Uint8Array([1]) },
      big: { dtype: 'int64', shape: [1], data: new BigInt64Array([-(2n ** 63n)]) },
    });
    const back = parsePth(serializePth(tensors), { upcastHalf: false }).tensors;
    expect(Object.keys(back)).toEqual(Object.keys(tensors));
    for (const [k, t] of Object.entries(tensors)) {
      if (k === 'u') {
        // 70000 elements (numel pickled as BININT): compare cheaply rather than element by element.
        expect(back.u.shape).toEqual([70000]);
        expect(back.u.data.every((v) => v === 7)).toBe(true);
      } else expect(back[k], k).toEqual(t);
    }
    expect(parsePth(serializePth({ h: tensors.h })).tensors.h).toEqual({
      dtype: 'float32',
      shape: [2],
      data: new Float32Array([1, 65504]),
    });
    expect(parsePth(serializePth({})).tensors).toEqual({});
  });

  it('reads protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL), nested checkpoints, strided views, shared storages and parameters', () => {
    const sbu = (s: string) => b(OP.SHORT_BINUNICODE, s.length, s);
    const sglobal = (m: string, n: string) =>
      b(sbu(m), OP.MEMOIZE, sbu(n), OP.MEMOIZE, OP.STACK_GLOBAL, OP.MEMOIZE);
    const tensor = (offset: number, size: number[], stride: number[]) =>
      b(
        sglobal('torch._utils', '_rebuild_tensor_v2'),
        OP.MARK,
        OP.MARK,
        sbu('storage'),
        sglobal('torch', 'FloatStorage'),
        sbu('0'),
        sbu('cpu'),
        OP.BININT1,
        6,
        OP.TUPLE,
        OP.BINPERSID,
        OP.BININT1,
        offset,
        OP.MARK,
        ...size.flatMap((s) => [OP.BININT1, s]),
        OP.TUPLE,
        OP.MARK,
        ...stride.flatMap((s) => [OP.BININT1, s]),
        OP.TUPLE,
        OP.NEWFALSE,
        sglobal('collections', 'OrderedDict'),
        OP.EMPTY_TUPLE,
        OP.REDUCE,
        OP.TUPLE,
        OP.REDUCE,
      );
    const body = b(
      OP.EMPTY_DICT,
      OP.MEMOIZE,
      OP.MARK,
      sbu('model'),
      sglobal('collections', 'OrderedDict'),
      OP.EMPTY_TUPLE,
      OP.REDUCE,
      OP.MARK,
      sbu('wT'),
      tensor(0, [2, 3], [1, 2]),
      sbu('slice'),
      tensor(2, [2], [1]),
      sbu('p'),
      sglobal('torch._utils', '_rebuild_parameter'),
      OP.MARK,
      tensor(4, [1, 2], [2, 1]),
      OP.NEWTRUE,
      sglobal('collections', 'OrderedDict'),
      OP.EMPTY_TUPLE,
      OP.REDUCE,
      OP.TUPLE,
      OP.REDUCE,
      OP.SETITEMS,
      sbu('epoch'),
      OP.BININT1,
      3,
      sbu('args'),
      OP.EMPTY_DICT,
      sbu('lr'),
      0x47,
      [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
      OP.SETITEM,
      OP.SETITEMS,
      OP.STOP,
    );
    const pkl = b(OP.PROTO, 4, OP.FRAME, u64(body.length), body);
    const file = zipSync({ 'ckpt/data.pkl': pkl, 'ckpt/data/0': b(f32le(0, 1, 2, 3, 4, 5)) }, { level: 0 });
    const { tensors, root } = parsePth(file);
    expect(Object.keys(tensors)).toEqual(['model.wT', 'model.slice', 'model.p']);
    expect(tensors['model.wT']).toEqual({
      dtype: 'float32',
      shape: [2, 3],
      data: new Float32Array([0, 2, 4, 1, 3, 5]),
    });
    expect(tensors['model.slice'].data).toEqual(new Float32Array([2, 3]));
    expect(tensors['model.p']).toEqual({ dtype: 'float32', shape: [1, 2], data: new Float32Array([4, 5]) });
    expect((root as PyDict).get('epoch')).toBe(3);
    expect(((root as PyDict).get('args') as PyDict).get('lr')).toBe(0.1);
    const selected = parseTensorFile(file, 'pth', { select: 'model' }).tensors;
    expect(Object.keys(selected)).toEqual(['wT', 'slice', 'p']);
    expect(() => parseTensorFile(file, 'pth', { select: 'ema' })).toThrow(
      /no tensor under 'ema' \(top-level names: model\)/,
    );
  });

  it('refuses non-allowed globals by default and can keep them as inert stubs', () => {
    // {'model': OrderedDict(), 'args': argparse.Namespace(lr=0.1)} as torch.save would pickle it.
    const pkl = b(
      OP.PROTO,
      2,
      OP.EMPTY_DICT,
      OP.MARK,
      str('model'),
      glob('collections', 'OrderedDict'),
      OP.EMPTY_TUPLE,
      OP.REDUCE,
      str('args'),
      glob('argparse', 'Namespace'),
      OP.EMPTY_TUPLE,
      0x81,
      OP.EMPTY_DICT,
      str('lr'),
      0x47,
      [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
      OP.SETITEM,
      OP.BUILD,
      OP.SETITEMS,
      OP.STOP,
    );
    const file = zipSync({ 'archive/data.pkl': pkl }, { level: 0 });
    expect(() => parsePth(file)).toThrow(TensorFormatError);
    expect(() => parsePth(file)).toThrow(/refusing pickle global 'argparse.Namespace'/);
    const { root } = parsePth(file, { unknownGlobals: 'stub' });
    const args = (root as PyDict).get('args') as PyObject;
    expect(args).toBeInstanceOf(PyObject);
    expect(args.cls).toBe('argparse.Namespace');
    expect((args.state as PyDict).get('lr')).toBe(0.1);
  });

  it('explains TorchScript archives and missing storages', () => {
    const ts = zipSync(
      { 'm/constants.pkl': b(OP.PROTO, 2, OP.NONE, OP.STOP), 'm/code/__torch__.py': b('x') },
      { level: 0 },
    );
    expect(() => parsePth(ts)).toThrow(/TorchScript archive/);
    const missing = zipSync(
      { 'archive/data.pkl': torchStateDictPickle(), 'archive/data/0': b(f32le(...convW)) },
      { level: 0 },
    );
    expect(() => parsePth(missing)).toThrow(/storage record 'archive\/data\/1' is missing/);
    const short = zipSync(
      {
        'archive/data.pkl': torchStateDictPickle(),
        'archive/data/0': b(f32le(1, 2, 3)),
        'archive/data/1': b(u64(1)),
      },
      { level: 0 },
    );
    expect(() => parsePth(short)).toThrow(/storage '0' has 12 bytes, its header says 4 x float32 = 16/);
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
