/**
 * The latent-normalisation fitter, from @ldmae/core (it works for any autoencoder), re-exported so
 * `import { fitLatentNormalization } from '@ldmae/vmae'` keeps working.
 */
export {
  ChannelMoments,
  type FitLatentNormalizationOptions,
  fitLatentNormalization,
  type ImageBatch,
} from '@ldmae/core';
