/**
 * @ldmae/core for Node: the common runtime plus file-system IO and native-backend detection.
 * @packageDocumentation
 */

export { setupBackend } from './backend/setup.node.js';
export * from './common.js';
export { localFolder, saveAutoencoder } from './model/files.node.js';
