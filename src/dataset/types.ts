/** One labelled (or unlabelled) image, as every stage after the reader sees it. */
export interface ImageRecord {
  /** Stable id: the Kaggle image_id, or the path relative to the dataset root. */
  id: string;
  path: string;
  /** The main target (class name); absent for unlabelled (test) images. */
  label?: string;
  /** Extra targets, e.g. Paddy Doctor's `variety`. */
  targets?: Record<string, string>;
  /** Explicit group: records sharing it always land on the same side of a split. */
  group?: string;
  /** Other columns (e.g. `age`), kept for reports. */
  extra?: Record<string, string>;
}

export type DatasetFormat = 'folder' | 'csv' | 'kaggle';

export interface Dataset {
  root: string;
  format: DatasetFormat;
  records: ImageRecord[];
  /** Class names, sorted, index-aligned with head outputs. */
  classes: string[];
  /** Unlabelled images that come with the dataset (Kaggle test_images/), in submission order. */
  test?: ImageRecord[];
  /** Kaggle sample_submission.csv, when present. */
  sampleSubmission?: string;
  /** Names of extra target columns available (e.g. ['variety']). */
  extraTargets: string[];
  /** Things worth telling the user that do not stop the run (e.g. CSV paths outside the CSV's folder). */
  warnings?: string[];
}

export function classesOf(records: ImageRecord[]): string[] {
  return [...new Set(records.map((r) => r.label).filter((l): l is string => l !== undefined))].sort();
}
