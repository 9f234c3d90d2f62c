/** Stream ids of the loaders' derived seeds (core's `deriveSeed(seed, stream, ...)`), so the
 * permutation and the augmentations of one epoch never share a generator. */
export const STREAM = { permutation: 1, augment: 2, latent: 3 } as const;
