/**
 * @ldmae/losses: Reconstruction, KL, LPIPS (head + pluggable trunk) and adversarial losses.
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds file loading (lpips lin
 * weights by path, the offline nsfwjs InceptionV3 trunk from the installed package).
 * @packageDocumentation
 */

// What a user needs; the building blocks behind these (frozen convs, LPIPS constants, the nsfwjs
// manifest decoding) stay internal.
export { adaptiveWeight, adoptWeight, generatorLoss, hingeDLoss, vanillaDLoss } from './adversarial.js';
export { BatchNorm2d, type BatchNorm2dOptions } from './batch-norm.js';
export { NLayerDiscriminator, type NLayerDiscriminatorOptions } from './discriminator.js';
export {
  type KerasConv,
  type KerasConvSpec,
  KerasGraph,
  type KerasGraphLayer,
  type KerasGraphNode,
  type KerasGraphOptions,
  type KerasModelSource,
  kerasModelLayers,
} from './keras/keras-graph.js';
export { type KlLossForm, type KlLossOptions, type KlReduction, klLoss } from './kl.js';
export {
  InceptionTrunk,
  type InceptionTrunkOptions,
  NSFWJS_INCEPTION_TRUNK_NAME,
} from './lpips/inception-trunk.js';
export {
  type LinWeightsKind,
  LPIPS_UPSAMPLE_TO,
  Lpips,
  type LpipsOptions,
  type LpipsResizeOptions,
  type LpipsResult,
} from './lpips/lpips.js';
export {
  type KerasLayerJson,
  type KerasLayersModelJson,
  type NsfwjsInceptionSource,
  shardBytes,
} from './lpips/nsfwjs-source.js';
export {
  alexnetTrunk,
  type TorchvisionLayer,
  TorchvisionTrunk,
  type TorchvisionTrunkOptions,
  vgg16Trunk,
} from './lpips/torchvision-trunk.js';
export type { LpipsTrunk } from './lpips/trunk.js';
export {
  l1Loss,
  type MaskedPatchLossOptions,
  type MaskedPatchLossResult,
  maskedPatchLoss,
  mseLoss,
  type PixelReduction,
} from './reconstruction.js';

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';
