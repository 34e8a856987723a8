import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackboneOverrides } from '../backbone/resolve.js';
import { createSessionCache, type Device } from '../backbone/session.js';
import { writeBundleFiles, type MemberHeads } from '../bundle/bundle.js';
import { ensembleFromManifest } from '../bundle/ensemble-from-bundle.js';
import { MANIFEST_VERSION, type BundleManifest, type BundleMember, type MetricsSummary } from '../bundle/manifest.js';
import type { ReadDatasetOptions } from '../dataset/read-dataset.js';
import type { SkippedImage } from '../dataset/scan.js';
import { formatDatasetSummary, formatSkipped } from '../dataset/summary.js';
import { DEFAULT_SEED, DEFAULT_WEIGHT_FOLDS } from '../defaults.js';
import { calibrate, classCentroids, noveltyScore, type Calibration } from '../ensemble/calibration.js';
import { chooseWeights, type EnsembleWeights, type WeightMethod } from '../ensemble/choose-weights.js';
import type { EnsembleEvaluation } from '../ensemble/ensemble.js';
import type { TargetLabels } from '../ensemble/fit-heads.js';
import type { MemberSpec } from '../ensemble/member-spec.js';
import type { Evaluation } from '../evaluate/metrics.js';
import type { ResultRow } from '../evaluate/results-table.js';
import type { FitReport } from '../heads/classifier.js';
import { LensembleError } from '../util/errors.js';
import { trackPeakMemory } from '../util/memory.js';
import { defaultCacheDir } from '../util/paths.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { fitMembers, type CrossValidationSummary, type FittedMembers, type TrainingTargets } from './fit-members.js';
import { membersTable } from './members-table.js';
import { prepareTrainingData, type PreparedData, type SplitOptions } from './prepare-data.js';
import { checkRunFolder, defaultMembers } from './run-checks.js';
import { withQueue, type QueueExtraction, type QueueOptions } from '../queue/queue-extraction.js';
import { interpretValidation } from '../explain/top-losses.js';
import { writeRunFolder } from './run-folder.js';

export interface TrainOptions extends Partial<SplitOptions> {
  /** Dataset: image folder, CSV list, or Kaggle competition folder. */
  data: string;
  /** Explicit validation set (replaces the random split). */
  valid?: string;
  read?: ReadDatasetOptions;
  /** The ensemble's members (one member = a single model); none: the registry's default backbone. */
  members?: MemberSpec[];
  /** How members are weighted: 'fit' (default; out-of-fold log-loss-optimal) or 'mean' (by each member's `weight`). */
  weights?: WeightMethod;
  /** Extra targets to learn beside the label, from the dataset's columns (e.g. ['variety']). */
  targets?: string[];
  backboneOverrides?: BackboneOverrides;
  /** Run folder: the model bundle and its reports are written here. */
  out: string;
  /** Overwrite a model bundle already in `out`. */
  force?: boolean;
  device?: Device;
  cacheDir?: string;
  batchSize?: number;
  progress?: boolean;
  /** Also run group-aware k-fold cross-validation of every member's head on the plain features. */
  cv?: number;
  /** Where human-readable progress lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Extract features on the workers of a Redis queue (`lensemble worker`); heads, weights and evaluation stay here. */
  queue?: QueueOptions;
}

export interface TargetResult {
  name: string;
  labels: string[];
  /** Without and with TTA. */
  evaluation: Evaluation;
  evaluationTta: Evaluation;
}

export interface MemberResult {
  name: string;
  /** On the validation split, without and with the member's TTA. */
  evaluation: Evaluation;
  evaluationTta: Evaluation;
  fit: FitReport;
  weight: number;
  /** k-fold accuracy over training + validation images (group-aware), when asked for. */
  crossValidation?: CrossValidationSummary;
}

export interface TrainResult {
  outDir: string;
  manifest: BundleManifest;
  /** The ensemble on the validation set, with TTA where members use it. */
  evaluation: Evaluation;
  /** The ensemble without TTA. */
  evaluationPlain: Evaluation;
  members: MemberResult[];
  extraTargets: TargetResult[];
  rows: ResultRow[];
  weights: EnsembleWeights;
  skipped: SkippedImage[];
  timings: { scanSeconds: number; extractSeconds: number; fitSeconds: number; totalSeconds: number };
}

/**
 * Trains an ensemble (one or more members) on a dataset and saves it: prepare the data → fit the members →
 * weigh them → the ensemble in memory, evaluated on the validation split → write the run folder.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  // Connected before the scan: an unreachable queue is one line at once, not after minutes of hashing.
  return withQueue(options.queue && { ...options.queue, log: options.queue.log ?? options.log }, (queue) => trainWith(options, queue));
}

async function trainWith(options: TrainOptions, queue: QueueExtraction | undefined): Promise<TrainResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const outDir = resolve(options.out);
  checkRunFolder(outDir, options.force ?? false);
  const specs = options.members?.length ? options.members : defaultMembers(log);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const seed = options.seed ?? DEFAULT_SEED;
  const weightMethod = options.weights ?? 'fit';

  const data = await prepareTrainingData({ ...options, cacheDir, seed, log });
  const scanSeconds = (performance.now() - started) / 1000;
  logData(data, log);
  const targets = trainingTargets(data, options.targets ?? []);

  const memory = trackPeakMemory();
  const sessions = createSessionCache();
  try {
    const context = { cacheDir, device: options.device, batchSize: options.batchSize, progress: options.progress, sessions, overrides: options.backboneOverrides, memory, log, queue };
    const folds = specs.length > 1 && weightMethod === 'fit' ? DEFAULT_WEIGHT_FOLDS : 0;
    const fitted = await fitMembers(specs, data, targets, { seed, outOfFoldFolds: folds, cv: options.cv ?? 0, context });
    memory.stop();
    const { weights, note } = chooseWeights(
      fitted.members.map((m) => ({ weight: m.spec.weight, outOfFold: m.outOfFold })),
      Int32Array.from(fitted.train, (i) => targets.main.y[i]),
      weightMethod,
      folds,
    );
    if (note) log(note);
    if (weights.method === 'fit') log(`Ensemble weights (out-of-fold log loss): ${fitted.members.map((m, k) => `${m.name} ${weights.weights[k].toFixed(3)}`).join(', ')}`);

    const draft = draftManifest(options, data, targets, fitted, weights, seed);
    const heads: MemberHeads[] = fitted.members.map((m) => ({ head: m.main.head, extra: Object.fromEntries(Object.entries(m.extra).map(([t, h]) => [t, h.head])) }));
    mkdirSync(outDir, { recursive: true });
    writeBundleFiles(outDir, Object.assign({}, ...fitted.members.map((m) => m.trained.files ?? {})));
    const ensemble = await ensembleFromManifest(draft, heads, { ...context, bundleDir: outDir });
    const validImages = fitted.valid.map((i) => ({ record: data.images[i].record, contentHash: fitted.hashes[i] }));
    const validation = validImages.length ? await ensemble.evaluate(validImages, { progress: false }) : undefined;
    if (!validation) throw new LensembleError('no validation images to evaluate on (all unreadable?)', options.data);

    const manifest = { ...withValidation(draft, validation), calibration: calibrationOf(validation, fitted, targets) };
    const members = fitted.members.map((m, k): MemberResult => ({
      name: m.name,
      evaluation: validation.members[k].evaluationPlain,
      evaluationTta: validation.members[k].evaluation,
      fit: m.main.fit,
      weight: weights.weights[k],
      crossValidation: m.crossValidation,
    }));
    const extraTargets = validation.extraTargets.map((t) => ({ name: t.name, labels: t.labels, evaluation: t.evaluationPlain, evaluationTta: t.evaluation }));
    const extractSeconds = fitted.members.reduce((s, m) => s + m.trained.features.seconds, 0);
    const fitSeconds = fitted.members.reduce((s, m) => s + m.fitSeconds, 0);
    const skipped = [...data.skipped, ...fitted.members.flatMap((m) => m.trained.features.failures)].filter((f, i, all) => all.findIndex((x) => x.path === f.path) === i);
    manifest.training.dataset = { ...(manifest.training.dataset as object), skipped: skipped.length };
    manifest.training.timings = { scanSeconds, extractSeconds, fitSeconds };
    const result: TrainResult = {
      outDir,
      manifest,
      evaluation: validation.evaluation,
      evaluationPlain: validation.evaluationPlain,
      members,
      extraTargets,
      rows: membersTable(fitted.members, validation, weights),
      weights,
      skipped,
      timings: { scanSeconds, extractSeconds, fitSeconds, totalSeconds: 0 },
    };
    result.timings.totalSeconds = (performance.now() - started) / 1000;
    const interpretation = await interpretValidation(ensemble, validation);
    await writeRunFolder(outDir, { result, data, fitted, heads, interpretation });
    return result;
  } finally {
    memory.stop();
    await sessions.closeAll();
  }
}

function trainingTargets(data: PreparedData, names: string[]): TrainingTargets {
  const labelIndex = new Map(data.labels.map((l, i) => [l, i]));
  const main: TargetLabels = { name: 'label', labels: data.labels, y: Int32Array.from(data.images, (s) => labelIndex.get(s.record.label!)!) };
  const extra = names.map((name): TargetLabels => {
    if (!data.dataset.extraTargets.includes(name)) {
      throw new LensembleError(`no target column "${name}" (available: ${data.dataset.extraTargets.join(', ') || 'none'})`, data.dataset.root);
    }
    const values = data.images.map((s) => s.record.targets?.[name] ?? '');
    const labels = [...new Set(values.filter((v) => v !== ''))].sort();
    return { name, labels, y: Int32Array.from(values, (v) => (v === '' ? -1 : labels.indexOf(v))) };
  });
  return { main, extra };
}

const summary = (e: Evaluation): MetricsSummary => ({ n: e.n, accuracy: e.accuracy, errorRate: e.errorRate, logLoss: e.logLoss });

/** The fit report without bulky arrays, for the manifest. */
function summarizeFit(fit: FitReport): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fit).filter(([, v]) => !Array.isArray(v) || v.length <= 200));
}

/** The manifest before validation: labels, each member's source entry, heads (filled in by saveBundle) and weights. */
function draftManifest(options: TrainOptions, data: PreparedData, targets: TrainingTargets, fitted: FittedMembers, weights: EnsembleWeights, seed: number): BundleManifest {
  const trainHashes = fitted.train.map((i) => fitted.hashes[i]);
  const y = Int32Array.from(fitted.train, (i) => targets.main.y[i]);
  const members: BundleMember[] = fitted.members.map((m) => ({
    name: m.name,
    source: m.trained.toManifest({ features: m.trained.features.plain, hashes: trainHashes, y, labels: data.labels }),
    head: { kind: m.spec.head.kind, config: {}, tensors: [] },
    views: m.trained.features.augmented ? m.spec.views : 0,
    tta: m.spec.tta,
  }));
  return {
    format: 'lensemble-bundle',
    version: MANIFEST_VERSION,
    createdAt: new Date().toISOString(),
    lensembleVersion: LENSEMBLE_VERSION,
    labels: data.labels,
    extraTargets: targets.extra.length ? Object.fromEntries(targets.extra.map((t) => [t.name, t.labels])) : undefined,
    members,
    ensemble: weights,
    training: {
      dataset: { path: resolve(options.data), format: data.dataset.format, images: data.images.length },
      validSet: options.valid ? resolve(options.valid) : undefined,
      split: { ...data.split.info, train: fitted.train.length, valid: fitted.valid.length },
      seed,
      members: fitted.members.map((m) => m.spec),
      fits: fitted.members.map((m) => summarizeFit(m.main.fit)),
    },
  };
}

/** Thresholds for predictions' warnings, from the validation split (see src/ensemble/calibration.ts). */
function calibrationOf(validation: EnsembleEvaluation, fitted: FittedMembers, targets: TrainingTargets): Calibration {
  const trainHashes = fitted.train.map((i) => fitted.hashes[i]);
  const y = Int32Array.from(fitted.train, (i) => targets.main.y[i]);
  const validHashes = validation.probabilities.images.map((img) => img.contentHash);
  return calibrate(
    validation.probabilities.probabilities,
    fitted.members.map((m) => {
      const store = m.trained.features.plain;
      const centroids = classCentroids(store, trainHashes, y, targets.main.labels.length);
      return { name: m.name, centroids, validScores: validHashes.map((h) => noveltyScore(store.get(h, 0)!, centroids)) };
    }),
  );
}

function withValidation(draft: BundleManifest, validation: EnsembleEvaluation): BundleManifest {
  return {
    ...draft,
    members: draft.members.map((m, k) => ({ ...m, valid: summary(validation.members[k].evaluationPlain), validTta: summary(validation.members[k].evaluation) })),
    validation: summary(validation.evaluation),
  };
}

function logData(data: PreparedData, log: (line: string) => void): void {
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
}
