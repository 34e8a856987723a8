import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { BackboneOverrides } from '../backbone/resolve.js';
import type { Device } from '../backbone/session.js';
import { saveBundle } from '../bundle/bundle.js';
import type { BundleManifest, BundleMember, MetricsSummary } from '../bundle/manifest.js';
import type { ReadDatasetOptions } from '../dataset/read-dataset.js';
import { formatDatasetSummary, formatSkipped } from '../dataset/summary.js';
import { averageProbabilities } from '../ensemble/average.js';
import { defaultMemberName, type MemberSpec } from '../ensemble/member-spec.js';
import { evaluateProbabilities, type Evaluation } from '../evaluate/metrics.js';
import type { ResultRow } from '../evaluate/results-table.js';
import type { FitReport } from '../heads/classifier.js';
import { writeRunPlots, type MemberCurve } from '../report/plots.js';
import { LensembleError } from '../util/errors.js';
import { columnMeans } from '../util/matrix.js';
import { gatherFeatures } from '../features/gather.js';
import { crossValidate } from '../evaluate/cross-validate.js';
import { createHead } from '../heads/registry.js';
import { headOptionsOf } from './fit-member.js';
import { trackPeakMemory } from '../util/memory.js';
import { defaultCacheDir } from '../util/paths.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { fitMember, type FittedMember, type TargetLabels } from './fit-member.js';
import { extractMemberFeatures, type MemberFeatures } from './member-features.js';
import { prepareTrainingData, type PreparedData, type SplitOptions } from './prepare-data.js';
import { writeTrainingReport } from './training-report.js';

export interface TrainOptions extends Partial<SplitOptions> {
  /** Dataset: image folder, CSV list, or Kaggle competition folder. */
  data: string;
  /** Explicit validation set (replaces the random split). */
  valid?: string;
  read?: ReadDatasetOptions;
  /** The ensemble's members (one member = a single model). */
  members: MemberSpec[];
  /** Extra targets to learn beside the label, from the dataset's columns (e.g. ['variety']). */
  targets?: string[];
  backboneOverrides?: BackboneOverrides;
  /** Run folder: the model bundle and its reports are written here. */
  out: string;
  device?: Device;
  cacheDir?: string;
  batchSize?: number;
  progress?: boolean;
  /** Also run group-aware k-fold cross-validation of every member's head on the plain features. */
  cv?: number;
  /** Where human-readable progress lines go (default: nowhere). */
  log?: (line: string) => void;
}

export interface TargetResult {
  name: string;
  labels: string[];
  evaluation: Evaluation;
  evaluationTta: Evaluation;
}

export interface MemberResult {
  name: string;
  evaluation: Evaluation;
  evaluationTta: Evaluation;
  fit: FitReport;
  /** k-fold accuracy over training + validation images (group-aware), when asked for. */
  crossValidation?: { folds: number; mean: number; std: number; accuracies: number[] };
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
  timings: { scanSeconds: number; extractSeconds: number; fitSeconds: number; totalSeconds: number };
}

const summary = (e: Evaluation): MetricsSummary => ({ n: e.n, accuracy: e.accuracy, errorRate: e.errorRate, logLoss: e.logLoss });

function targetLabels(data: PreparedData, name: string): TargetLabels {
  if (!data.dataset.extraTargets.includes(name)) {
    throw new LensembleError(`no target column "${name}" (available: ${data.dataset.extraTargets.join(', ') || 'none'})`, data.dataset.root);
  }
  const values = data.images.map((s) => s.record.targets?.[name] ?? '');
  const labels = [...new Set(values.filter((v) => v !== ''))].sort();
  return { name, labels, y: Int32Array.from(values, (v) => (v === '' ? -1 : labels.indexOf(v))) };
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}-${k}`;
  });
}

/** Trains an ensemble (one or more members) on a dataset, evaluates it honestly, and saves a model bundle. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  if (options.members.length === 0) throw new LensembleError('no members to train');
  const started = performance.now();
  const log = options.log ?? (() => {});
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const outDir = resolve(options.out);
  const seed = options.seed ?? 42;
  const memory = trackPeakMemory();

  const data = await prepareTrainingData({ ...options, cacheDir, seed });
  const scanSeconds = (performance.now() - started) / 1000;
  logData(data, log);
  const extraTargets = (options.targets ?? []).map((t) => targetLabels(data, t));
  const labelIndex = new Map(data.labels.map((l, i) => [l, i]));
  const mainTarget: TargetLabels = { name: 'label', labels: data.labels, y: Int32Array.from(data.images, (s) => labelIndex.get(s.record.label!)!) };
  const items = data.images.map((s) => ({ id: s.record.id, path: s.record.path, contentHash: s.facts.sha256 }));
  const hashes = items.map((i) => i.contentHash);

  const features: MemberFeatures[] = [];
  for (const spec of options.members) {
    const f = await extractMemberFeatures(
      spec,
      data.split.train.map((i) => items[i]),
      data.split.valid.map((i) => items[i]),
      { cacheDir, device: options.device, batchSize: options.batchSize, progress: options.progress, seed, overrides: options.backboneOverrides, memory },
    );
    log(`${f.arch} @ ${f.imageSize} ${f.resize}: ${f.computed} feature rows extracted, ${f.reused} from cache (${f.extractSeconds.toFixed(1)} s)`);
    if (f.failures.length) log(formatSkipped(f.failures));
    features.push(f);
  }

  const complete = (i: number, role: 'train' | 'valid'): boolean =>
    features.every((f) => {
      if (!f.plain.has(hashes[i], 0)) return false;
      if (role === 'train') return !f.augmented || Array.from({ length: f.spec.views }, (_, v) => v + 1).every((v) => f.augmented!.has(hashes[i], v));
      return !f.tta || f.tta.views.every((v) => f.tta!.store.has(hashes[i], v));
    });
  const split = { train: data.split.train.filter((i) => complete(i, 'train')), valid: data.split.valid.filter((i) => complete(i, 'valid')) };
  if (split.train.length === 0) throw new LensembleError('no training images left after skipping unreadable ones', options.data);
  const skipped = [...data.skipped, ...features.flatMap((f) => f.failures).filter((f, i, all) => all.findIndex((x) => x.path === f.path) === i)];

  const names = uniqueNames(features.map((f) => f.spec.name ?? defaultMemberName(f.spec, f.arch, f.imageSize, f.resize)));
  const fitted: FittedMember[] = features.map((f, k) => {
    const m = fitMember(f, hashes, split, { main: mainTarget, extra: extraTargets }, seed, memory, options.progress);
    log(`${names[k]}: ${f.spec.head} head fitted in ${m.fitSeconds.toFixed(2)} s`);
    return m;
  });
  memory.stop();

  const yValid = Int32Array.from(split.valid, (i) => mainTarget.y[i]);
  const weights = features.map((f) => f.spec.weight);
  const memberResults: MemberResult[] = fitted.map((m, k) => ({
    name: names[k],
    evaluation: evaluateProbabilities(data.labels, yValid, m.main.validProba),
    evaluationTta: evaluateProbabilities(data.labels, yValid, m.main.validProbaTta),
    fit: m.main.fit,
  }));
  if (options.cv) {
    const pool = [...split.train, ...split.valid];
    const y = Int32Array.from(pool, (i) => mainTarget.y[i]);
    const groups = Int32Array.from(pool, (i) => data.groupOf[i]);
    features.forEach((f, k) => {
      const X = gatherFeatures(f.plain, pool.map((i) => hashes[i]));
      const cv = crossValidate(() => createHead(f.spec.head, data.labels.length, headOptionsOf(f.spec, seed)), X, y, { folds: options.cv, seed, groups });
      memberResults[k].crossValidation = { folds: cv.folds.length, mean: cv.mean, std: cv.std, accuracies: cv.folds.map((x) => x.accuracy) };
      log(`${names[k]}: ${cv.folds.length}-fold group cross-validation accuracy ${cv.mean.toFixed(4)} ± ${cv.std.toFixed(4)}`);
    });
  }
  const evaluationPlain = evaluateProbabilities(data.labels, yValid, averageProbabilities(fitted.map((m) => m.main.validProba), weights));
  const evaluation = evaluateProbabilities(data.labels, yValid, averageProbabilities(fitted.map((m) => m.main.validProbaTta), weights));
  const extraResults: TargetResult[] = extraTargets.map((t) => {
    const rows = fitted[0].extra[t.name].validRows;
    const y = Int32Array.from(rows, (i) => t.y[i]);
    return {
      name: t.name,
      labels: t.labels,
      evaluation: evaluateProbabilities(t.labels, y, averageProbabilities(fitted.map((m) => m.extra[t.name].validProba), weights)),
      evaluationTta: evaluateProbabilities(t.labels, y, averageProbabilities(fitted.map((m) => m.extra[t.name].validProbaTta), weights)),
    };
  });

  const rows: ResultRow[] = features.map((f, k) => ({
    member: names[k],
    arch: f.arch,
    head: f.spec.head,
    imageSize: f.imageSize,
    resize: f.resize,
    views: f.augmented ? f.spec.views : 0,
    epochs: epochsOf(fitted[k].main.fit),
    errorRate: memberResults[k].evaluation.errorRate,
    errorRateTta: f.spec.tta === 'none' ? undefined : memberResults[k].evaluationTta.errorRate,
    extractSeconds: f.extractSeconds,
    fitSeconds: fitted[k].fitSeconds,
    peakMemoryBytes: Math.max(f.peakMemory, fitted[k].peakMemory),
  }));
  if (features.length > 1) {
    rows.push({
      member: 'ensemble',
      arch: `ensemble of ${features.length}`,
      head: 'mean',
      imageSize: '-',
      resize: '-',
      views: Math.max(...rows.map((r) => r.views)),
      epochs: '-',
      errorRate: evaluationPlain.errorRate,
      errorRateTta: features.some((f) => f.spec.tta !== 'none') ? evaluation.errorRate : undefined,
      extractSeconds: rows.reduce((s, r) => s + r.extractSeconds, 0),
      fitSeconds: rows.reduce((s, r) => s + r.fitSeconds, 0),
      peakMemoryBytes: Math.max(...rows.map((r) => r.peakMemoryBytes)),
    });
  }

  const members: BundleMember[] = features.map((f, k) =>
    bundleMember(f, names[k], summary(memberResults[k].evaluation), summary(memberResults[k].evaluationTta), {
      data,
      train: split.train,
      hashes,
      labels: mainTarget,
    }),
  );
  const extractSeconds = features.reduce((s, f) => s + f.extractSeconds, 0);
  const fitSeconds = fitted.reduce((s, m) => s + m.fitSeconds, 0);
  const manifest: BundleManifest = {
    format: 'lensemble-bundle',
    version: 1,
    createdAt: new Date().toISOString(),
    lensembleVersion: LENSEMBLE_VERSION,
    labels: data.labels,
    extraTargets: extraTargets.length ? Object.fromEntries(extraTargets.map((t) => [t.name, t.labels])) : undefined,
    members,
    ensemble: { weights },
    training: {
      dataset: { path: resolve(options.data), format: data.dataset.format, images: data.images.length, skipped: skipped.length },
      validSet: options.valid ? resolve(options.valid) : undefined,
      split: { ...data.split.info, train: split.train.length, valid: split.valid.length },
      seed,
      members: options.members,
      fits: fitted.map((m) => summarizeFit(m.main.fit)),
      timings: { scanSeconds, extractSeconds, fitSeconds },
    },
    validation: summary(evaluation),
  };
  mkdirSync(outDir, { recursive: true });
  saveBundle(outDir, manifest, fitted.map((m) => ({ head: m.main.head, extra: Object.fromEntries(Object.entries(m.extra).map(([t, x]) => [t, x.head])) })));
  const timings = { scanSeconds, extractSeconds, fitSeconds, totalSeconds: (performance.now() - started) / 1000 };
  const result: TrainResult = { outDir, manifest, evaluation, evaluationPlain, members: memberResults, extraTargets: extraResults, rows, timings };
  writeFileSync(join(outDir, 'split.json'), JSON.stringify({ info: data.split.info, train: split.train.map((i) => items[i].id), valid: split.valid.map((i) => items[i].id) }, null, 1));
  writeFileSync(join(outDir, 'skipped.json'), JSON.stringify(skipped, null, 2));
  writeFileSync(join(outDir, 'metrics.json'), JSON.stringify({ valid: evaluation, validPlain: evaluationPlain, members: memberResults, extraTargets: extraResults, rows, timings }, null, 2));
  const plots = await writeRunPlots(outDir, {
    labels: data.labels,
    confusion: evaluation.confusion,
    members: rows.map((r) => ({ member: r.member, errorRate: r.errorRate, errorRateTta: r.errorRateTta })),
    curves: curvesOf(memberResults),
    titles: { confusion: `Validation confusion matrix (${features.length > 1 ? 'ensemble, ' : ''}TTA)` },
  });
  await writeTrainingReport(outDir, { result, data, skipped, plots: plots.map((p) => basename(p)) });
  return result;
}

/** Per-epoch loss curves of the heads that train by epochs (none for closed-form classifiers). */
function curvesOf(members: MemberResult[]): MemberCurve[] | undefined {
  const curves = members
    .filter((m) => Array.isArray(m.fit.epochs) && m.fit.epochs.length > 0)
    .map((m) => ({
      member: m.name,
      epochs: (m.fit.epochs as { epoch: number; trainLoss: number; validLoss: number | null; validAccuracy: number | null }[]).map((e) => ({
        epoch: e.epoch,
        trainLoss: e.trainLoss,
        validLoss: e.validLoss ?? undefined,
        validAccuracy: e.validAccuracy ?? undefined,
      })),
    }));
  return curves.length ? curves : undefined;
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

function epochsOf(fit: FitReport): string {
  const epochs = fit.epochs;
  if (!Array.isArray(epochs)) return '-';
  const best = typeof fit.bestEpoch === 'number' ? fit.bestEpoch : epochs.length;
  return `${best}/${epochs.length}`;
}

/** The fit report without bulky arrays, for the manifest. */
function summarizeFit(fit: FitReport): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fit).filter(([, v]) => !Array.isArray(v) || v.length <= 200));
}

/** The manifest entry of a trained member (for trace members, with what explanations need). */
function bundleMember(
  f: MemberFeatures,
  name: string,
  valid: MetricsSummary,
  validTta: MetricsSummary,
  context: { data: PreparedData; train: number[]; hashes: string[]; labels: TargetLabels },
): BundleMember {
  const common = { name, head: { kind: f.spec.head, config: {}, tensors: [] }, tta: { kind: f.spec.tta, views: f.spec.ttaViews, beta: f.spec.ttaBeta }, valid, validTta };
  if (f.source.kind === 'traces') {
    const X = gatherFeatures(f.plain, context.train.map((i) => context.hashes[i]));
    const y = Int32Array.from(context.train, (i) => context.labels.y[i]);
    return {
      ...common,
      kind: 'traces',
      traces: f.source.traces,
      featureNames: f.source.featureNames,
      classMeans: Object.fromEntries(context.labels.labels.map((label, c) => [label, columnMeans(X, (i) => y[i] === c)])),
      overallMean: columnMeans(X, () => true),
    };
  }
  return {
    ...common,
    kind: 'backbone',
    backbone: { reference: f.spec.backbone, spec: f.source.backboneSpec, sha256: f.source.backbone.sha256 },
    preprocess: f.source.preprocess,
    augmentation: f.source.augmentation,
    views: f.augmented ? f.spec.views : 0,
  };
}
