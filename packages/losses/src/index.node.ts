/**
 * @ldmae/losses for Node: everything of the default entry plus loading LPIPS weights from files and
 * the offline 'nsfwjs-inceptionv3-early' trunk from the installed `nsfwjs` package.
 * @packageDocumentation
 */

export * from './index.js';
export {
  type LoadLpipsOptions,
  loadLpips,
  loadOfflineLpips,
  type OfflineLpipsOptions,
  readTensorDict,
} from './lpips/load.node.js';
export { loadNsfwjsInceptionTrunk, nsfwjsInceptionDir } from './lpips/nsfwjs-files.node.js';
