/**
 * @ldmae/core: the runtime every LDMAE-TS package builds on (browser / default entry).
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds native-backend detection
 * and file-system IO.
 * @packageDocumentation
 */

// Tensor files and checkpoints (re-exported in the entries, not in common.ts, so bundles keep the
// names static).
export * from '@ldmae/io';
export { setupBackend } from './backend/setup.browser.js';
export * from './common.js';
