/**
 * @ldmae/core: the runtime every LDMAE-TS package builds on (browser / default entry).
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds native-backend detection
 * and file-system IO.
 * @packageDocumentation
 */

export { setupBackend } from './backend/setup.browser.js';
export * from './common.js';
