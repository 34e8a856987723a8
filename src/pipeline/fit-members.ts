import { formatSkipped } from '../dataset/summary.js';
import { fitHead, newHead, type FittedHead, type TargetLabels } from '../ensemble/fit-heads.js';
import { defaultMemberName, type MemberSpec } from '../ensemble/member-spec.js';
import { foldHeadSpec, outOfFoldProbabilities } from '../ensemble/out-of-fold.js';
import { crossValidate } from '../evaluate/cross-validate.js';
import { gatherFeatures } from '../features/gather.js';
import { findSourceKind } from '../sources/registry.js';
import type { LabelledItem, TrainContext, TrainedSource } from '../sources/source-kind.js';
import { LensembleError } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import type { PreparedData } from './prepare-data.js';

export interface TrainingTargets {
  main: TargetLabels;
  extra: TargetLabels[];
}

export interface CrossValidationSummary {
  folds: number;
  mean: number;
  std: number;
  accuracies: number[];
}

export interface FittedMember {
  spec: MemberSpec;
  name: string;
  trained: TrainedSource;
  main: FittedHead;
  extra: Record<string, FittedHead>;
  /** Out-of-fold probabilities of the training images (rows follow `FittedMembers.train`), for ensemble weights. */
  outOfFold?: Matrix;
  crossValidation?: CrossValidationSummary;
  fitSeconds: number;
  peakMemory: number;
}

export interface FittedMembers {
  members: FittedMember[];
  /** Training and validation image indices (into data.images) whose features every member has. */
  train: number[];
  valid: number[];
  hashes: string[];
}

export interface FitMembersOptions {
  seed: number;
  /** Out-of-fold predictions for ensemble weights: the number of folds (0 = none). */
  outOfFoldFolds: number;
  /** Group-aware k-fold cross-validation of every member's head on the plain features (0 = none). */
  cv: number;
  context: TrainContext;
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}-${k}`;
  });
}

/**
 * Every member's expensive part first (its source's features, cached by content), then, on the images every
 * member could read, its heads — and what choosing ensemble weights needs (out-of-fold predictions).
 */
export async function fitMembers(specs: MemberSpec[], data: PreparedData, targets: TrainingTargets, options: FitMembersOptions): Promise<FittedMembers> {
  const { context, seed } = options;
  const hashes = data.images.map((s) => s.facts.sha256);
  const labelled = (i: number): LabelledItem => ({ id: data.images[i].record.id, path: data.images[i].record.path, contentHash: hashes[i], y: targets.main.y[i] });
  const images = { train: data.split.train.map(labelled), valid: data.split.valid.map(labelled), labels: data.labels };

  const trained: TrainedSource[] = [];
  const extractionPeaks: number[] = [];
  for (const spec of specs) {
    context.memory.reset();
    const source = await findSourceKind(spec.source.kind).train(spec.source, { views: spec.views, tta: spec.tta, seed: spec.seed ?? seed }, images, context);
    const f = source.features;
    context.log(`${source.description.arch} @ ${source.description.imageSize} ${source.description.resize}: ${f.computed} feature rows extracted, ${f.reused} from cache (${f.seconds.toFixed(1)} s)`);
    if (f.failures.length) context.log(formatSkipped(f.failures));
    trained.push(source);
    extractionPeaks.push(context.memory.peak());
  }

  const complete = (i: number, role: 'train' | 'valid') =>
    trained.every(({ features: f }) => {
      if (!f.plain.has(hashes[i], 0)) return false;
      const extra = role === 'train' ? f.augmented : f.tta;
      return !extra || extra.views.every((v) => extra.store.has(hashes[i], v));
    });
  const train = data.split.train.filter((i) => complete(i, 'train'));
  const valid = data.split.valid.filter((i) => complete(i, 'valid'));
  if (train.length === 0) throw new LensembleError('no training images left after skipping unreadable ones', data.dataset.root);

  const names = uniqueNames(specs.map((spec, k) => spec.name ?? defaultMemberName(spec, trained[k].description)));
  const rows = { hashes, train, valid };
  const members = specs.map((spec, k): FittedMember => {
    const started = performance.now();
    context.memory.reset();
    const features = trained[k].features;
    const fit = (t: TargetLabels, label: string) => fitHead(spec, features, t, rows, { seed, progress: context.progress, label });
    const own = trained[k].head;
    const main = own && own.head.kind === spec.head.kind ? own : fit(targets.main, `Head ${spec.head.kind}`);
    const extra = Object.fromEntries(targets.extra.map((t) => [t.name, fit(t, `Head ${t.name}`)]));
    const outOfFold = options.outOfFoldFolds
      ? outOfFoldProbabilities(foldHeadSpec(spec, main.fit), features, targets.main, { hashes, train, groupOf: data.groupOf }, { folds: options.outOfFoldFolds, seed })
      : undefined;
    const fitSeconds = (performance.now() - started) / 1000;
    context.log(`${names[k]}: ${spec.head.kind} head fitted in ${fitSeconds.toFixed(2)} s${outOfFold ? ' (with out-of-fold predictions for the ensemble weights)' : ''}`);
    let crossValidation: CrossValidationSummary | undefined;
    if (options.cv) {
      const pool = [...train, ...valid];
      const cv = crossValidate(() => newHead(spec, data.labels.length, seed), gatherFeatures(features.plain, pool.map((i) => hashes[i])), Int32Array.from(pool, (i) => targets.main.y[i]), {
        folds: options.cv,
        seed,
        groups: Int32Array.from(pool, (i) => data.groupOf[i]),
      });
      crossValidation = { folds: cv.folds.length, mean: cv.mean, std: cv.std, accuracies: cv.folds.map((x) => x.accuracy) };
      context.log(`${names[k]}: ${cv.folds.length}-fold group cross-validation accuracy ${cv.mean.toFixed(4)} ± ${cv.std.toFixed(4)}`);
    }
    return { spec, name: names[k], trained: trained[k], main, extra, outOfFold, crossValidation, fitSeconds, peakMemory: Math.max(extractionPeaks[k], context.memory.peak()) };
  });
  return { members, train, valid, hashes };
}
