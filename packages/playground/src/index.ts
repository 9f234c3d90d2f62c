/**
 * @ldmae/playground: Browser playground: reconstruct, sample and train a little in the browser.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
