/**
 * @ldmae/baselines: AE, DAE, VAE and SD-VAE baselines behind the Autoencoder contract.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
