/** Former home of {@link LightningDiT}, kept for the imports that still name it; the model is in dit.ts. */
export { LightningDiT } from './dit.js';
