/**
 * @ldmae/baselines for Node: everything of the default entry plus loading VAE weights from files.
 * @packageDocumentation
 */

export * from './index.js';
export * from './load.node.js';
