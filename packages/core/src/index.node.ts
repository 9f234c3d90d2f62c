/**
 * @ldmae/core for Node: the common runtime plus file-system IO and native-backend detection.
 * @packageDocumentation
 */

// Tensor files and checkpoints, with @ldmae/io's file-system IO (its Node entry).
export * from '@ldmae/io';
export { setupBackend } from './backend/setup.node.js';
export * from './common.js';
export { localFolder, saveAutoencoder } from './model/files.node.js';
