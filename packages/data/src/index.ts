/**
 * @ldmae/data: Data sources (MNIST, IDX, image folders, npy/npz), transforms, a seeded loader, image codecs and the latent cache.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
