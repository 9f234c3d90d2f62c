/**
 * Rebuilding data sets from their plain-data specs (inside worker threads).
 */
import { ArrayDataset, type Dataset, type DatasetSpec, SubsetDataset } from '../dataset.js';
import { FileImageDataset } from './image-folder.js';

/** The data set a {@link DatasetSpec} describes. */
export function datasetFromSpec(spec: DatasetSpec): Dataset {
  switch (spec.kind) {
    case 'arrays':
      return new ArrayDataset(spec.data, spec.shape, spec.labels, spec.classes);
    case 'files':
      return new FileImageDataset(spec.files, spec.labels, {
        classes: spec.classes,
        mode: spec.mode,
        onError: spec.onError,
        maxPixels: spec.maxPixels,
      });
    case 'subset':
      return new SubsetDataset(datasetFromSpec(spec.base), spec.indices);
    default:
      throw new TypeError(`datasetFromSpec: unknown kind '${(spec as { kind?: string }).kind}'`);
  }
}
