import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveDataConfig, type DataConfigRequest } from '../backbone/data-config.js';
import { resolveBackbone, type BackboneOverrides } from '../backbone/resolve.js';
import { openBackbone, type Device } from '../backbone/session.js';
import { saveBundle } from '../bundle/bundle.js';
import type { BundleManifest } from '../bundle/manifest.js';
import type { ReadDatasetOptions } from '../dataset/read-dataset.js';
import { formatDatasetSummary, formatSkipped } from '../dataset/summary.js';
import { evaluateProbabilities, type Evaluation } from '../evaluate/metrics.js';
import { extractFeatures } from '../features/extract.js';
import { gatherFeatures } from '../features/gather.js';
import type { FitReport } from '../heads/classifier.js';
import { createHead, type HeadKind, type HeadOptions } from '../heads/registry.js';
import { LensembleError } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { prepareTrainingData, type SplitOptions } from './prepare-data.js';
import { writeTrainingReport } from './training-report.js';

export interface TrainOptions extends Partial<SplitOptions>, DataConfigRequest {
  /** Dataset: image folder, CSV list, or Kaggle competition folder. */
  data: string;
  /** Explicit validation set (replaces the random split). */
  valid?: string;
  /** Registry name, path to an .onnx file, or hf:org/repo/file.onnx. */
  backbone: string;
  backboneOverrides?: BackboneOverrides;
  /** Reader options (e.g. a CSV group column). */
  read?: ReadDatasetOptions;
  /** Run folder: the model bundle and its reports are written here. */
  out: string;
  head?: HeadKind;
  headOptions?: HeadOptions;
  device?: Device;
  cacheDir?: string;
  batchSize?: number;
  progress?: boolean;
  /** Where human-readable progress lines go (default: nowhere). */
  log?: (line: string) => void;
}

export interface TrainResult {
  outDir: string;
  manifest: BundleManifest;
  evaluation: Evaluation;
  fit: FitReport;
  timings: { scanSeconds: number; extractSeconds: number; fitSeconds: number; totalSeconds: number };
}

/** Train one member (backbone + preprocessing + head) on a dataset and save a model bundle. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const outDir = resolve(options.out);
  const seed = options.seed ?? 42;

  const data = await prepareTrainingData({ ...options, cacheDir, seed });
  const scanSeconds = (performance.now() - started) / 1000;
  log(formatDatasetSummary(data.summary, 'Dataset'));
  if (data.validSummary) log(formatDatasetSummary(data.validSummary, 'Validation set'));
  if (data.skipped.length) log(formatSkipped(data.skipped));
  const info = data.split.info;
  log(
    info.method === 'explicit-valid'
      ? `Split: explicit validation set (${data.split.valid.length} images)${data.leakedValidImages ? `; WARNING: ${data.leakedValidImages} validation images have a near-duplicate in training` : ''}`
      : `Split: ${data.split.train.length} train / ${data.split.valid.length} valid (seed ${info.seed}, ${Math.round(info.validPct * 100)}% stratified); ` +
          `${info.duplicateGroups} near-duplicate groups (${info.itemsInDuplicateGroups} images) kept on one side`,
  );

  const backbone = await resolveBackbone(options.backbone, { cacheDir, overrides: options.backboneOverrides });
  const session = await openBackbone(backbone, { device: options.device });
  const preprocess = resolveDataConfig(session.spec, options);
  log(`Backbone: ${session.spec.name} (${session.device}), input ${preprocess.width}×${preprocess.height} ${preprocess.resize}`);

  const extractStarted = performance.now();
  const extraction = await extractFeatures({
    session,
    preprocess,
    items: data.images.map((s) => ({ id: s.record.id, path: s.record.path, contentHash: s.facts.sha256 })),
    cacheRoot: cacheDir,
    batchSize: options.batchSize,
    progress: options.progress,
    label: 'Extracting features',
  });
  await session.close();
  const extractSeconds = (performance.now() - extractStarted) / 1000;
  log(`Features: ${extraction.computed} extracted, ${extraction.reused} from cache (${extractSeconds.toFixed(1)} s)`);
  const skipped = [...data.skipped, ...extraction.failures];
  if (extraction.failures.length) log(formatSkipped(extraction.failures));

  const labelIndex = new Map(data.labels.map((l, i) => [l, i]));
  const usable = (indices: number[]) => indices.filter((i) => extraction.store.has(data.images[i].facts.sha256, 0));
  const trainIdx = usable(data.split.train);
  const validIdx = usable(data.split.valid);
  if (trainIdx.length === 0) throw new LensembleError('no training images left after skipping unreadable ones', options.data);
  const hashes = (idx: number[]) => idx.map((i) => data.images[i].facts.sha256);
  const labelsOf = (idx: number[]) => Int32Array.from(idx, (i) => labelIndex.get(data.images[i].record.label!)!);
  const Xtrain = gatherFeatures(extraction.store, hashes(trainIdx));
  const ytrain = labelsOf(trainIdx);
  const Xvalid = gatherFeatures(extraction.store, hashes(validIdx));
  const yvalid = labelsOf(validIdx);

  const headKind = options.head ?? 'linear';
  const head = createHead(headKind, data.labels.length, { seed, ...options.headOptions });
  const fitStarted = performance.now();
  const fit = head.fit(Xtrain, ytrain, validIdx.length ? { valid: { X: Xvalid, y: yvalid } } : {});
  const fitSeconds = (performance.now() - fitStarted) / 1000;
  log(`Head: ${headKind} trained on ${Xtrain.rows} × ${Xtrain.cols} features in ${fitSeconds.toFixed(2)} s`);

  const evaluation = evaluateProbabilities(data.labels, yvalid, head.predictProba(Xvalid));
  const validSummary = { n: evaluation.n, accuracy: evaluation.accuracy, errorRate: evaluation.errorRate, logLoss: evaluation.logLoss };
  const memberName = `${session.spec.name}-${preprocess.width}-${preprocess.resize}-${headKind}`.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const manifest: BundleManifest = {
    format: 'lensemble-bundle',
    version: 1,
    createdAt: new Date().toISOString(),
    lensembleVersion: LENSEMBLE_VERSION,
    labels: data.labels,
    members: [
      {
        name: memberName,
        backbone: { reference: options.backbone, spec: session.spec, sha256: backbone.sha256 },
        preprocess,
        head: { kind: headKind, config: {}, tensors: [] },
        valid: validSummary,
      },
    ],
    ensemble: { weights: [1] },
    training: {
      dataset: { path: resolve(options.data), format: data.dataset.format, images: data.images.length, skipped: skipped.length },
      validSet: options.valid ? resolve(options.valid) : undefined,
      split: { ...info, train: trainIdx.length, valid: validIdx.length },
      seed,
      head: { kind: headKind, ...options.headOptions, fit: summarizeFit(fit) },
      timings: { scanSeconds, extractSeconds, fitSeconds },
    },
    validation: validSummary,
  };
  mkdirSync(outDir, { recursive: true });
  saveBundle(outDir, manifest, [head]);
  const totalSeconds = (performance.now() - started) / 1000;
  const timings = { scanSeconds, extractSeconds, fitSeconds, totalSeconds };
  writeFileSync(join(outDir, 'split.json'), JSON.stringify({ info, train: trainIdx.map((i) => data.images[i].record.id), valid: validIdx.map((i) => data.images[i].record.id) }, null, 1));
  writeFileSync(join(outDir, 'skipped.json'), JSON.stringify(skipped, null, 2));
  writeFileSync(join(outDir, 'metrics.json'), JSON.stringify({ valid: evaluation, fit: summarizeFit(fit), timings }, null, 2));
  writeTrainingReport(join(outDir, 'report.md'), { manifest, evaluation, data, skipped, timings, fit });
  return { outDir, manifest, evaluation, fit, timings };
}

/** The fit report without bulky arrays, for the manifest. */
function summarizeFit(fit: FitReport): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fit).filter(([, v]) => !Array.isArray(v) || v.length <= 200));
}
