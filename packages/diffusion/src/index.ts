/**
 * @ldmae/diffusion: DiT / LightningDiT denoisers, rectified flow, DDPM/DDIM and ODE samplers, CFG and the LDM trainer.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
