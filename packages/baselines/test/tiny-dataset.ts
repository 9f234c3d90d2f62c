/** A data set shared by the trainers' data-source tests (baselines and vmae). */
import { createRng } from '@ldmae/core';
import { fromImages } from '@ldmae/data';

/** Six seeded 16 x 16 RGB byte images, labelled i % 2. */
export function tinyDataset() {
  const rng = createRng(3);
  const ims = Array.from({ length: 6 }, () => ({
    data: Uint8Array.from(rng.uniformArray(16 * 16 * 3, 0, 255), (v) => Math.floor(v)),
    height: 16,
    width: 16,
    channels: 3,
  }));
  return fromImages(
    ims,
    ims.map((_, i) => i % 2),
  );
}
