/**
 * @ldmae/core for Node: the common runtime plus file-system IO and native-backend detection.
 * @packageDocumentation
 */
export * from './common.js';
export { setupBackend } from './backend/setup.node.js';
