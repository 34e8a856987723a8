import { gatherFeatures } from '../features/gather.js';
import type { Classifier, FitReport } from '../heads/classifier.js';
import { createHead } from '../heads/registry.js';
import type { SourceFeatures } from '../sources/source-kind.js';
import { zeros, type Matrix } from '../util/matrix.js';
import { createProgress, type Progress } from '../util/progress.js';
import { headParams, type MemberSpec } from './member-spec.js';

/** One target to learn: class index per image (−1 = unknown, left out) and its class names. */
export interface TargetLabels {
  name: string;
  labels: string[];
  y: Int32Array;
}

export interface FittedHead {
  head: Classifier;
  fit: FitReport;
}

/** Stacks the plain view and the augmented views of the given images into one matrix (view-major). */
export function trainingMatrix(features: SourceFeatures, hashes: string[]): { X: Matrix; copies: number } {
  const parts = [gatherFeatures(features.plain, hashes), ...(features.augmented?.views ?? []).map((v) => gatherFeatures(features.augmented!.store, hashes, v))];
  const out = zeros(parts.reduce((s, p) => s + p.rows, 0), parts[0].cols);
  let offset = 0;
  for (const p of parts) {
    out.data.set(p.data, offset);
    offset += p.data.length;
  }
  return { X: out, copies: parts.length };
}

/** A fresh head as the member describes it. */
export function newHead(spec: MemberSpec, nClasses: number, seed: number): Classifier {
  return createHead(spec.head.kind, nClasses, { seed: spec.seed ?? seed, params: headParams(spec) });
}

/**
 * Fits a member's head for one target on its cached features: every view of the training images, early
 * stopping (for heads that do) on the plain view of the validation images.
 */
export function fitHead(
  spec: MemberSpec,
  features: SourceFeatures,
  target: TargetLabels,
  rows: { hashes: string[]; train: number[]; valid: number[] },
  options: { seed: number; progress?: boolean; label: string },
): FittedHead {
  const known = (list: number[]) => list.filter((i) => target.y[i] >= 0);
  const trainRows = known(rows.train);
  const validRows = known(rows.valid);
  const { X, copies } = trainingMatrix(features, trainRows.map((i) => rows.hashes[i]));
  const y = new Int32Array(X.rows);
  const yOnce = Int32Array.from(trainRows, (i) => target.y[i]);
  for (let v = 0; v < copies; v++) y.set(yOnce, v * yOnce.length);
  const valid = validRows.length ? { X: gatherFeatures(features.plain, validRows.map((i) => rows.hashes[i])), y: Int32Array.from(validRows, (i) => target.y[i]) } : undefined;
  const head = newHead(spec, target.labels.length, options.seed);
  let bar: Progress | undefined;
  let last = 0;
  const onProgress = (done: number, total: number, info?: Record<string, number>) => {
    bar ??= createProgress(options.label, total, { unit: spec.head.kind === 'random-forest' ? 'tree' : 'epoch', enabled: options.progress });
    const loss = info?.validLoss ?? info?.trainLoss;
    bar.tick(done - last, loss === undefined ? undefined : `loss ${loss.toFixed(4)}`);
    last = done;
  };
  const fit = head.fit(X, y, { ...(valid ? { valid } : {}), onProgress });
  bar?.stop();
  return { head, fit };
}
