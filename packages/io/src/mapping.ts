/**
 * Helpers that adapt foreign state dicts to a Module's names and layouts before `loadStateDict`:
 * rename keys by rule, transpose Linear / Conv weights between PyTorch and tfjs layouts, and report
 * missing / unexpected keys and shape mismatches.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type HostTensor, isHostTensor, permuteHost, setEntry } from './host-tensor.js';
import { FROM_TORCH, fromTorchLayout, type ParamLayout, TO_TORCH, toTorchLayout } from './layout.js';

/**
 * One renaming rule:
 * - `{ from, to }`: a string `from` replaces that literal prefix; a RegExp is applied with
 *   `key.replace(from, to)` (so `$1` groups work, and a /g flag replaces every match);
 * - `{ stripPrefix }`: remove the prefix from keys that have it (e.g. 'module.' from DataParallel);
 * - `{ addPrefix }`: prepend to every key;
 * - `{ drop }`: remove keys matching (string = exact prefix), e.g. `/num_batches_tracked$/`.
 */
export type RenameRule =
  | { from: string | RegExp; to: string }
  | { stripPrefix: string }
  | { addPrefix: string }
  | { drop: string | RegExp };

/**
 * Rename the keys of a dict by applying `rules` in order to each key. Values are not copied. Throws if
 * two keys end up with the same name (naming both originals), so nothing is silently overwritten.
 */
export function renameKeys<V>(
  dict: Record<string, V>,
  rules: RenameRule | readonly RenameRule[],
): Record<string, V> {
  if (typeof dict !== 'object' || dict === null) throw new TypeError('renameKeys: dict must be an object');
  const list = Array.isArray(rules) ? rules : [rules as RenameRule];
  for (const r of list) {
    const ok =
      typeof r === 'object' &&
      r !== null &&
      (('from' in r &&
        (typeof r.from === 'string' || r.from instanceof RegExp) &&
        typeof r.to === 'string') ||
        ('stripPrefix' in r && typeof r.stripPrefix === 'string') ||
        ('addPrefix' in r && typeof r.addPrefix === 'string') ||
        ('drop' in r && (typeof r.drop === 'string' || r.drop instanceof RegExp)));
    if (!ok)
      throw new TypeError(
        `renameKeys: invalid rule ${JSON.stringify(r)} (expected {from, to}, {stripPrefix}, {addPrefix} or {drop})`,
      );
  }
  const out: Record<string, V> = {};
  const origin = new Map<string, string>();
  for (const [key, value] of Object.entries(dict)) {
    let k: string | null = key;
    for (const r of list) {
      if (k === null) break;
      if ('from' in r) {
        if (typeof r.from === 'string') {
          if (k.startsWith(r.from)) k = r.to + k.slice(r.from.length);
        } else {
          r.from.lastIndex = 0;
          k = k.replace(r.from, r.to);
        }
      } else if ('stripPrefix' in r) {
        if (k.startsWith(r.stripPrefix)) k = k.slice(r.stripPrefix.length);
      } else if ('addPrefix' in r) {
        k = r.addPrefix + k;
      } else if (matchesDrop(r.drop, k)) {
        k = null;
      }
    }
    if (k === null) continue;
    const prev = origin.get(k);
    if (prev !== undefined) throw new Error(`renameKeys: '${prev}' and '${key}' both map to '${k}'`);
    origin.set(k, key);
    setEntry(out, k, value);
  }
  return out;
}

function matchesDrop(drop: string | RegExp, key: string): boolean {
  if (typeof drop === 'string') return key.startsWith(drop);
  drop.lastIndex = 0;
  return drop.test(key);
}

/** Direction of {@link transposeForLayout}. */
export type LayoutDirection = 'torchToTfjs' | 'tfjsToTorch';

/**
 * Transpose a weight between PyTorch's layout and the tfjs layout Module stores internally:
 * 'linear' swaps [out, in] and [in, out]; 'conv2d' maps [out, in, kh, kw] to [kh, kw, in, out] (and back);
 * 'same' copies. Works on host tensors (pure JS) and tf.Tensors (the caller owns the result).
 */
export function transposeForLayout<T extends HostTensor | tf.Tensor>(
  t: T,
  layout: ParamLayout,
  direction: LayoutDirection,
): T {
  const rank = layout === 'linear' ? 2 : layout === 'conv2d' ? 4 : -1;
  if (layout !== 'same' && layout !== 'linear' && layout !== 'conv2d') {
    throw new RangeError(
      `transposeForLayout: layout must be 'same', 'linear' or 'conv2d', got '${String(layout)}'`,
    );
  }
  if (direction !== 'torchToTfjs' && direction !== 'tfjsToTorch') {
    throw new RangeError(
      `transposeForLayout: direction must be 'torchToTfjs' or 'tfjsToTorch', got '${String(direction)}'`,
    );
  }
  const shape = t instanceof tf.Tensor ? t.shape : isHostTensor(t) ? t.shape : null;
  if (!shape) throw new TypeError('transposeForLayout: t must be a host tensor or a tf.Tensor');
  if (rank > 0 && shape.length !== rank) {
    throw new RangeError(
      `transposeForLayout: a ${layout} weight must have rank ${rank}, got shape [${shape.join(', ')}]`,
    );
  }
  if (t instanceof tf.Tensor)
    return (direction === 'torchToTfjs' ? fromTorchLayout(t, layout) : toTorchLayout(t, layout)) as T;
  const h = t as HostTensor;
  if (layout === 'same') return { dtype: h.dtype, shape: h.shape.slice(), data: h.data.slice() } as T;
  return permuteHost(h, (direction === 'torchToTfjs' ? FROM_TORCH : TO_TORCH)[layout]) as T;
}

/** Something with a shape: a shape array, a host tensor or a tf.Tensor. */
type Shaped = readonly number[] | { shape: readonly number[] };

/** Result of {@link diffKeys}. */
export interface KeyDiff {
  /** Expected keys absent from `actual`. */
  missing: string[];
  /** Keys of `actual` not expected. */
  unexpected: string[];
  /** Keys in both whose shapes differ (only when both sides carry shapes). */
  mismatched: { key: string; expected: number[]; actual: number[] }[];
}

function shapeOf(v: unknown): number[] | undefined {
  if (Array.isArray(v) && v.every((d) => typeof d === 'number')) return v.slice();
  if (typeof v === 'object' && v !== null && Array.isArray((v as { shape?: unknown }).shape))
    return (v as { shape: number[] }).shape.slice();
  return undefined;
}

/**
 * Compare the keys (and, where both sides carry them, the shapes) of what a model expects with what a
 * file holds. Typical use: `diffKeys(module.stateDictShapes(), hostTensors)`.
 */
export function diffKeys(
  expected: Iterable<string> | Record<string, Shaped>,
  actual: Iterable<string> | Record<string, Shaped>,
): KeyDiff {
  const toMap = (x: Iterable<string> | Record<string, Shaped>, name: string): Map<string, unknown> => {
    if (typeof x !== 'object' || x === null)
      throw new TypeError(`diffKeys: ${name} must be an iterable of keys or a record`);
    if (Symbol.iterator in x) return new Map([...(x as Iterable<string>)].map((k) => [k, undefined]));
    return new Map(Object.entries(x));
  };
  const e = toMap(expected, 'expected');
  const a = toMap(actual, 'actual');
  const mismatched: KeyDiff['mismatched'] = [];
  for (const [k, v] of e) {
    if (!a.has(k)) continue;
    const se = shapeOf(v);
    const sa = shapeOf(a.get(k));
    if (se && sa && (se.length !== sa.length || se.some((d, i) => d !== sa[i])))
      mismatched.push({ key: k, expected: se, actual: sa });
  }
  return {
    missing: [...e.keys()].filter((k) => !a.has(k)),
    unexpected: [...a.keys()].filter((k) => !e.has(k)),
    mismatched,
  };
}
