import { DEFAULT_SEED } from '../defaults.js';
import { readDataset, type ReadDatasetOptions } from '../dataset/read-dataset.js';
import { scanRecords, type ScannedRecord, type SkippedImage } from '../dataset/scan.js';
import { summarizeScan, type DatasetSummary } from '../dataset/summary.js';
import type { Dataset } from '../dataset/types.js';
import { groupNearDuplicates } from '../split/near-duplicates.js';
import { findNearDuplicatesOf } from '../split/near-duplicates-of.js';
import { stratifiedGroupSplit, type Split } from '../split/split.js';
import { LensembleError } from '../util/errors.js';
import { stripUndefined } from '../util/objects.js';

export interface SplitOptions {
  /** Fraction of images for validation when no explicit validation set is given (fastai's valid_pct). */
  validPct: number;
  seed: number;
  /** Group near-duplicates (flips, 90° rotations, rescales) so they never straddle the split. */
  dedup: boolean;
  /** Largest Hamming distance (of 64 bits) between dihedral perceptual hashes that counts as a duplicate. */
  dedupDistance: number;
}

export const defaultSplitOptions: SplitOptions = { validPct: 0.2, seed: DEFAULT_SEED, dedup: true, dedupDistance: 10 };

export interface PrepareOptions extends Partial<SplitOptions> {
  data: string;
  /** An explicit validation set (folder or CSV); replaces the random split. */
  valid?: string;
  read?: ReadDatasetOptions;
  cacheDir: string;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface PreparedData {
  dataset: Dataset;
  labels: string[];
  /** Readable images: training and validation pool (validation-set images follow when given separately). */
  images: ScannedRecord[];
  skipped: SkippedImage[];
  summary: DatasetSummary;
  validSummary?: DatasetSummary;
  split: Split;
  /** Group id per image (near-duplicates, identical files and explicit groups share one): for group-aware cross-validation. */
  groupOf: Int32Array;
  /** Validation images with a near-duplicate in training (explicit validation sets only). */
  leakedValidImages: number;
}

/** Reads, scans and splits: everything before the backbone. */
export async function prepareTrainingData(options: PrepareOptions): Promise<PreparedData> {
  const split = { ...defaultSplitOptions, ...stripUndefined(options) };
  const dataset = await readDataset(options.data, options.read);
  for (const warning of dataset.warnings ?? []) options.log?.(`warning: ${warning}`);
  const unlabelled = dataset.records.filter((r) => r.label === undefined);
  if (unlabelled.length) throw new LensembleError(`${unlabelled.length} training images have no label (e.g. ${unlabelled[0].path})`, options.data);
  checkClasses(dataset.classes, options.data);
  const scanDir = `${options.cacheDir}/scan`;
  const scan = await scanRecords(dataset.records, { cacheDir: scanDir, progress: options.progress, label: 'Reading images' });
  const summary = summarizeScan(scan);
  if (scan.ok.length === 0) throw new LensembleError('no readable images in the dataset', options.data);

  if (options.valid) {
    const validSet = await readDataset(options.valid, options.read);
    for (const warning of validSet.warnings ?? []) options.log?.(`warning: ${warning}`);
    const validScan = await scanRecords(validSet.records, { cacheDir: scanDir, progress: options.progress, label: 'Reading valid' });
    const labels = [...new Set([...dataset.classes, ...validSet.classes])].sort();
    const images = [...scan.ok, ...validScan.ok];
    const train = scan.ok.map((_, i) => i);
    const valid = validScan.ok.map((_, i) => scan.ok.length + i);
    const leaked = countLeaks(scan.ok, validScan.ok, split.dedupDistance);
    return {
      groupOf: Int32Array.from(images, (_, i) => i),
      dataset,
      labels,
      images,
      skipped: [...scan.skipped, ...validScan.skipped],
      summary,
      validSummary: summarizeScan(validScan),
      split: { train, valid, info: { method: 'explicit-valid', seed: split.seed, validPct: valid.length / images.length, groups: images.length, duplicateGroups: 0, itemsInDuplicateGroups: 0 } },
      leakedValidImages: leaked,
    };
  }

  const labels = dataset.classes;
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const y = scan.ok.map((s) => labelIndex.get(s.record.label!)!);
  // Identical files always group; explicit group ids group; near-duplicates group when dedup is on.
  const sameKey = scan.ok.map((s) => (s.record.group !== undefined ? `group:${s.record.group}` : `sha:${s.facts.sha256}`));
  const groups = groupNearDuplicates(
    scan.ok.map((s) => s.facts.phash),
    split.dedup ? split.dedupDistance : -1,
    sameKey,
  );
  const { train, valid } = stratifiedGroupSplit(y, groups.groupOf, split.validPct, split.seed);
  return {
    groupOf: groups.groupOf,
    dataset,
    labels,
    images: scan.ok,
    skipped: scan.skipped,
    summary,
    split: {
      train,
      valid,
      info: {
        method: 'stratified-groups',
        seed: split.seed,
        validPct: split.validPct,
        groups: new Set(groups.groupOf).size,
        duplicateGroups: groups.duplicateGroups,
        itemsInDuplicateGroups: groups.itemsInDuplicateGroups,
      },
    },
    leakedValidImages: 0,
  };
}

/** A classifier needs two classes at least: say so before any image is read. */
export function checkClasses(classes: string[], where: string): void {
  if (classes.length === 0) throw new LensembleError('no labelled images (an image folder needs one subfolder per class)', where);
  if (classes.length === 1) throw new LensembleError(`only one class ("${classes[0]}"): a classifier needs at least two (an image folder needs one subfolder per class)`, where);
}

function countLeaks(train: ScannedRecord[], valid: ScannedRecord[], maxDistance: number): number {
  const { nearest } = findNearDuplicatesOf(valid.map((v) => v.facts.phash), train.map((t) => t.facts.phash), maxDistance);
  return nearest.filter((i) => i >= 0).length;
}
