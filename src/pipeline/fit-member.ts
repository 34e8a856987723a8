import type { MemberSpec } from '../ensemble/member-spec.js';
import { combineTta } from '../ensemble/tta.js';
import { gatherFeatures } from '../features/gather.js';
import type { Classifier, FitReport } from '../heads/classifier.js';
import { createHead, type HeadOptions } from '../heads/registry.js';
import { zeros, type Matrix } from '../util/matrix.js';
import type { PeakMemory } from '../util/memory.js';
import { createProgress, type Progress } from '../util/progress.js';
import type { MemberFeatures } from './member-features.js';

/** One target to learn: class index per image (−1 = unknown, left out) and its class count. */
export interface TargetLabels {
  name: string;
  labels: string[];
  y: Int32Array;
}

export interface FittedTarget {
  head: Classifier;
  fit: FitReport;
  validProba: Matrix;
  validProbaTta: Matrix;
  /** Validation rows used (images with a known label for this target). */
  validRows: number[];
}

export interface FittedMember {
  main: FittedTarget;
  extra: Record<string, FittedTarget>;
  fitSeconds: number;
  peakMemory: number;
}

/** The head settings a member spec carries. */
export function headOptionsOf(spec: MemberSpec, seed: number): HeadOptions {
  const { epochs, lr, weightDecay, labelSmoothing, hidden, dropout } = spec;
  return { seed: spec.seed ?? seed, epochs, lr, weightDecay, labelSmoothing, hidden, dropout };
}

/** Stacks the plain view and K augmented views of the training images into one matrix. */
function trainingMatrix(features: MemberFeatures, hashes: string[], views: number): Matrix {
  const parts = [gatherFeatures(features.plain, hashes)];
  for (let v = 1; v <= views; v++) parts.push(gatherFeatures(features.augmented!, hashes, v));
  const cols = parts[0].cols;
  const out = zeros(parts.reduce((s, p) => s + p.rows, 0), cols);
  let offset = 0;
  for (const p of parts) {
    out.data.set(p.data, offset);
    offset += p.data.length;
  }
  return out;
}

function fitTarget(spec: MemberSpec, features: MemberFeatures, target: TargetLabels, hashes: string[], train: number[], valid: number[], seed: number, progress?: boolean, label = 'Training head'): FittedTarget {
  const known = (rows: number[]) => rows.filter((i) => target.y[i] >= 0);
  const trainRows = known(train);
  const validRows = known(valid);
  const views = features.augmented ? spec.views : 0;
  const X = trainingMatrix(features, trainRows.map((i) => hashes[i]), views);
  const yOnce = Int32Array.from(trainRows, (i) => target.y[i]);
  const y = new Int32Array(X.rows);
  for (let v = 0; v <= views; v++) y.set(yOnce, v * yOnce.length);
  const Xvalid = gatherFeatures(features.plain, validRows.map((i) => hashes[i]));
  const yValid = Int32Array.from(validRows, (i) => target.y[i]);
  const head = createHead(spec.head, target.labels.length, headOptionsOf(spec, seed));
  let bar: Progress | undefined;
  let last = 0;
  const onProgress = (done: number, total: number, info?: Record<string, number>) => {
    bar ??= createProgress(label, total, { unit: spec.head === 'random-forest' ? 'tree' : 'epoch', enabled: progress });
    const loss = info?.validLoss ?? info?.trainLoss;
    bar.tick(done - last, loss === undefined ? undefined : `loss ${loss.toFixed(4)}`);
    last = done;
  };
  const fit = head.fit(X, y, { ...(validRows.length ? { valid: { X: Xvalid, y: yValid } } : {}), onProgress });
  bar?.stop();
  const validProba = head.predictProba(Xvalid);
  const ttaViews = features.tta ? features.tta.views.map((v) => head.predictProba(gatherFeatures(features.tta!.store, validRows.map((i) => hashes[i]), v))) : [];
  return { head, fit, validProba, validProbaTta: combineTta(spec.tta, validProba, ttaViews, spec.ttaBeta), validRows };
}

/** Fits a member's heads (main target and extra targets) on its cached features. */
export function fitMember(
  features: MemberFeatures,
  hashes: string[],
  split: { train: number[]; valid: number[] },
  targets: { main: TargetLabels; extra: TargetLabels[] },
  seed: number,
  memory: PeakMemory,
  progress?: boolean,
): FittedMember {
  const started = performance.now();
  memory.reset();
  const main = fitTarget(features.spec, features, targets.main, hashes, split.train, split.valid, seed, progress, `Head ${features.spec.head}`);
  const extra = Object.fromEntries(
    targets.extra.map((t) => [t.name, fitTarget(features.spec, features, t, hashes, split.train, split.valid, seed, progress, `Head ${t.name}`)]),
  );
  return { main, extra, fitSeconds: (performance.now() - started) / 1000, peakMemory: memory.peak() };
}
