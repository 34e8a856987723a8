import { stratifiedGroupKFold } from '../evaluate/cross-validate.js';
import { gatherFeatures } from '../features/gather.js';
import type { SourceFeatures } from '../sources/source-kind.js';
import type { FitReport } from '../heads/classifier.js';
import { zeros, type Matrix } from '../util/matrix.js';
import { newHead, trainingMatrix, type TargetLabels } from './fit-heads.js';
import type { MemberSpec } from './member-spec.js';

/**
 * Out-of-fold probabilities of a member's head on the training images: group-aware stratified k-fold over the
 * training split only (the validation split stays honest), a fresh head per fold fitted on the other folds'
 * views, predicting the held-out fold's plain view. Rows follow `train`. Undefined when the training images
 * hold fewer groups than two folds need.
 */
export function outOfFoldProbabilities(
  spec: MemberSpec,
  features: SourceFeatures,
  target: TargetLabels,
  rows: { hashes: string[]; train: number[]; groupOf: Int32Array },
  options: { folds: number; seed: number },
): Matrix | undefined {
  const y = Int32Array.from(rows.train, (i) => target.y[i]);
  const groups = Int32Array.from(rows.train, (i) => rows.groupOf[i]);
  const folds = Math.min(options.folds, new Set(groups).size);
  if (folds < 2) return undefined;
  const out = zeros(rows.train.length, target.labels.length);
  for (const fold of stratifiedGroupKFold(y, groups, folds, options.seed)) {
    const fitHashes = Array.from(fold.train, (j) => rows.hashes[rows.train[j]]);
    const { X, copies } = trainingMatrix(features, fitHashes);
    const yFit = new Int32Array(X.rows);
    const yOnce = Int32Array.from(fold.train, (j) => y[j]);
    for (let v = 0; v < copies; v++) yFit.set(yOnce, v * yOnce.length);
    const head = newHead(spec, target.labels.length, options.seed);
    head.fit(X, yFit);
    const proba = head.predictProba(gatherFeatures(features.plain, Array.from(fold.test, (j) => rows.hashes[rows.train[j]])));
    fold.test.forEach((j, r) => out.data.set(proba.data.subarray(r * proba.cols, (r + 1) * proba.cols), j * out.cols));
  }
  return out;
}

/**
 * The member as its fold heads are fitted: a head that chose its learning rate (lr_find) and its length (early
 * stopping on the validation split) when fitted on all the training images is refitted per fold with those
 * choices — as cross_val_predict refits fixed hyperparameters — since the folds have no validation split to stop
 * on, and repeating lr_find per fold would cost more than the fold's training. Other heads are fitted as declared.
 */
export function foldHeadSpec(spec: MemberSpec, mainFit: FitReport): MemberSpec {
  const head = spec.head as Record<string, unknown>;
  const { lr, bestEpoch } = mainFit;
  if (!('lr' in head) || !('epochs' in head) || typeof lr !== 'number' || typeof bestEpoch !== 'number' || bestEpoch < 0) return spec;
  return { ...spec, head: { ...spec.head, lr, epochs: bestEpoch + 1 } as MemberSpec['head'] };
}
