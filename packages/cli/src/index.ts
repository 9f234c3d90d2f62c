/**
 * @ldmae/cli: The `ldmae` command: train, encode, sample, evaluate and the end-to-end quickstart.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
