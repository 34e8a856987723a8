import type { Classifier, FitOptions, FitReport, NamedTensor, SerializedClassifier } from './classifier.js';
import { growTree, presort, type TreeArrays } from './decision-tree.js';
import { checkFitInput, checkPredictInput } from './fit-input.js';
import { LensembleError } from '../util/errors.js';
import { argmaxRows, zeros, type Matrix } from '../util/matrix.js';
import { createRng, deriveSeed } from '../util/rng.js';

export const RANDOM_FOREST_KIND = 'random-forest';

export interface RandomForestOptions {
  /** Number of trees (default 100). */
  nEstimators?: number;
  /** Deepest allowed node (default unlimited). */
  maxDepth?: number;
  /** A node with fewer samples is a leaf (default 2). */
  minSamplesSplit?: number;
  /** Each child must keep at least this many distinct samples (default 1). */
  minSamplesLeaf?: number;
  /** Features tried per node: 'sqrt' (default), 'log2', 'all', a count ≥ 1, or a fraction in (0, 1). */
  maxFeatures?: 'sqrt' | 'log2' | 'all' | number;
  /** Grow each tree on a bootstrap sample (default true). */
  bootstrap?: boolean;
  /** Number of classes; default: largest training label + 1. */
  nClasses?: number;
  seed?: number;
}

export interface RandomForest extends Classifier {
  /** Mean decrease in impurity per feature, averaged over trees, summing to 1 (all zero if no tree split). */
  featureImportances(): Float32Array;
}

interface ResolvedOptions {
  nEstimators: number;
  /** null = unlimited (JSON has no Infinity). */
  maxDepth: number | null;
  minSamplesSplit: number;
  minSamplesLeaf: number;
  maxFeatures: 'sqrt' | 'log2' | 'all' | number;
  bootstrap: boolean;
  nClasses: number | null;
  seed: number;
}

/** All trees' nodes concatenated; child indices and value offsets are absolute. */
interface ForestModel {
  nFeatures: number;
  nClasses: number;
  roots: Int32Array;
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  valueOffset: Int32Array;
  values: Float32Array;
  importances: Float32Array;
}

export const RANDOM_FOREST_DEFAULTS = { nEstimators: 100, minSamplesSplit: 2, minSamplesLeaf: 1, maxFeatures: 'sqrt', bootstrap: true } as const;

function resolveOptions(options: RandomForestOptions): ResolvedOptions {
  const d = RANDOM_FOREST_DEFAULTS;
  const resolved: ResolvedOptions = {
    nEstimators: options.nEstimators ?? d.nEstimators,
    maxDepth: options.maxDepth === undefined || options.maxDepth === Infinity ? null : options.maxDepth,
    minSamplesSplit: options.minSamplesSplit ?? d.minSamplesSplit,
    minSamplesLeaf: options.minSamplesLeaf ?? d.minSamplesLeaf,
    maxFeatures: options.maxFeatures ?? d.maxFeatures,
    bootstrap: options.bootstrap ?? d.bootstrap,
    nClasses: options.nClasses ?? null,
    seed: options.seed ?? 0,
  };
  const positiveInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new LensembleError(`${RANDOM_FOREST_KIND}: ${name} must be an integer ≥ 1, got ${v}`);
  };
  positiveInt('nEstimators', resolved.nEstimators);
  if (resolved.maxDepth !== null) positiveInt('maxDepth', resolved.maxDepth);
  positiveInt('minSamplesSplit', resolved.minSamplesSplit);
  positiveInt('minSamplesLeaf', resolved.minSamplesLeaf);
  const mf = resolved.maxFeatures;
  if (typeof mf === 'number' && !(mf > 0 && (mf < 1 || Number.isInteger(mf)))) {
    throw new LensembleError(`${RANDOM_FOREST_KIND}: maxFeatures must be a count ≥ 1 or a fraction in (0, 1), got ${mf}`);
  }
  return resolved;
}

export function featuresPerNode(maxFeatures: NonNullable<RandomForestOptions['maxFeatures']>, d: number): number {
  if (maxFeatures === 'sqrt') return Math.max(1, Math.floor(Math.sqrt(d)));
  if (maxFeatures === 'log2') return Math.max(1, Math.floor(Math.log2(d)));
  if (maxFeatures === 'all') return d;
  if (maxFeatures < 1) return Math.max(1, Math.floor(maxFeatures * d));
  return Math.min(d, maxFeatures);
}

function concatenateTrees(trees: TreeArrays[], nFeatures: number, nClasses: number, importances: Float32Array): ForestModel {
  const nodes = trees.reduce((s, t) => s + t.nodeCount, 0);
  const valueCount = trees.reduce((s, t) => s + t.values.length, 0);
  if (Math.max(nodes, valueCount) >= 2 ** 24) {
    throw new LensembleError(`${RANDOM_FOREST_KIND}: ${nodes} nodes is more than float32 tensors index exactly`);
  }
  const model: ForestModel = {
    nFeatures,
    nClasses,
    roots: new Int32Array(trees.length),
    feature: new Int32Array(nodes),
    threshold: new Float32Array(nodes),
    left: new Int32Array(nodes),
    right: new Int32Array(nodes),
    valueOffset: new Int32Array(nodes),
    values: new Float32Array(valueCount),
    importances,
  };
  let nodeBase = 0;
  let valueBase = 0;
  trees.forEach((tree, t) => {
    model.roots[t] = nodeBase;
    model.feature.set(tree.feature, nodeBase);
    model.threshold.set(tree.threshold, nodeBase);
    model.values.set(tree.values, valueBase);
    for (let i = 0; i < tree.nodeCount; i++) {
      const leaf = tree.feature[i] < 0;
      model.left[nodeBase + i] = leaf ? -1 : tree.left[i] + nodeBase;
      model.right[nodeBase + i] = leaf ? -1 : tree.right[i] + nodeBase;
      model.valueOffset[nodeBase + i] = leaf ? tree.valueOffset[i] + valueBase : -1;
    }
    nodeBase += tree.nodeCount;
    valueBase += tree.values.length;
  });
  return model;
}

/** scikit-learn's feature_importances_: each splitting tree's MDI normalised to 1, averaged, normalised again. */
function meanImportances(trees: TreeArrays[], d: number): Float32Array {
  const mean = new Float64Array(d);
  for (const tree of trees) {
    const total = tree.importances.reduce((s, v) => s + v, 0);
    if (total > 0) for (let f = 0; f < d; f++) mean[f] += tree.importances[f] / total;
  }
  const total = mean.reduce((s, v) => s + v, 0);
  return Float32Array.from(mean, (v) => (total > 0 ? v / total : 0));
}

function fitForest(X: Matrix, y: Int32Array, opts: ResolvedOptions, fitOptions: FitOptions | undefined): { model: ForestModel; maxDepth: number } {
  const nClasses = checkFitInput(RANDOM_FOREST_KIND, X, y, opts.nClasses ?? undefined, fitOptions?.sampleWeight);
  const { rows: n, cols: d } = X;
  const data = presort(X, y, nClasses);
  const growOptions = {
    maxDepth: opts.maxDepth ?? Infinity,
    minSamplesSplit: opts.minSamplesSplit,
    minSamplesLeaf: opts.minSamplesLeaf,
    maxFeatures: featuresPerNode(opts.maxFeatures, d),
  };
  const sampleWeight = fitOptions?.sampleWeight;
  const weight = new Float64Array(n);
  const trees: TreeArrays[] = [];
  for (let t = 0; t < opts.nEstimators; t++) {
    const rng = createRng(deriveSeed(opts.seed, 'tree', t));
    if (opts.bootstrap) {
      weight.fill(0);
      for (let j = 0; j < n; j++) weight[rng.int(n)] += 1;
    } else {
      weight.fill(1);
    }
    if (sampleWeight) for (let i = 0; i < n; i++) weight[i] *= sampleWeight[i];
    trees.push(growTree(data, weight, growOptions, rng));
    fitOptions?.onProgress?.(t + 1, opts.nEstimators);
  }
  const model = concatenateTrees(trees, d, nClasses, meanImportances(trees, d));
  return { model, maxDepth: trees.reduce((s, t) => Math.max(s, t.depth), 0) };
}

function predictForest(model: ForestModel, X: Matrix): Matrix {
  const { nClasses: C, roots, feature, threshold, left, right, valueOffset, values } = model;
  const d = X.cols;
  const out = zeros(X.rows, C);
  const acc = new Float64Array(C);
  for (let i = 0; i < X.rows; i++) {
    const rowOffset = i * d;
    acc.fill(0);
    for (let t = 0; t < roots.length; t++) {
      let node = roots[t];
      while (feature[node] >= 0) {
        node = X.data[rowOffset + feature[node]] <= threshold[node] ? left[node] : right[node];
      }
      const offset = valueOffset[node];
      for (let k = 0; k < C; k++) acc[k] += values[offset + k];
    }
    let total = 0;
    for (let k = 0; k < C; k++) total += acc[k];
    for (let k = 0; k < C; k++) out.data[i * C + k] = acc[k] / total;
  }
  return out;
}

function tensor(data: Float32Array, shape: number[]): NamedTensor {
  return { shape, data };
}

function serialize(opts: ResolvedOptions, model: ForestModel): SerializedClassifier {
  const nodes = model.feature.length;
  return {
    kind: RANDOM_FOREST_KIND,
    config: { options: { ...opts }, nFeatures: model.nFeatures, nClasses: model.nClasses },
    tensors: {
      roots: tensor(Float32Array.from(model.roots), [model.roots.length]),
      feature: tensor(Float32Array.from(model.feature), [nodes]),
      threshold: tensor(model.threshold.slice(), [nodes]),
      left: tensor(Float32Array.from(model.left), [nodes]),
      right: tensor(Float32Array.from(model.right), [nodes]),
      valueOffset: tensor(Float32Array.from(model.valueOffset), [nodes]),
      values: tensor(model.values.slice(), [model.values.length / model.nClasses, model.nClasses]),
      featureImportances: tensor(model.importances.slice(), [model.nFeatures]),
    },
  };
}

function makeRandomForest(opts: ResolvedOptions, restored?: ForestModel): RandomForest {
  let model = restored;
  const fitted = (): ForestModel => {
    if (!model) throw new LensembleError(`${RANDOM_FOREST_KIND}: not fitted yet`);
    return model;
  };
  const predictProba = (X: Matrix): Matrix => {
    checkPredictInput(RANDOM_FOREST_KIND, X, model?.nFeatures);
    return predictForest(fitted(), X);
  };
  return {
    kind: RANDOM_FOREST_KIND,
    get nClasses() {
      return model?.nClasses ?? opts.nClasses ?? 0;
    },
    fit(X: Matrix, y: Int32Array, fitOptions?: FitOptions): FitReport {
      const started = performance.now();
      const result = fitForest(X, y, opts, fitOptions);
      model = result.model;
      return {
        seconds: (performance.now() - started) / 1000,
        trees: opts.nEstimators,
        nodes: model.feature.length,
        maxDepth: result.maxDepth,
      };
    },
    predictProba,
    predict: (X: Matrix) => argmaxRows(predictProba(X)),
    featureImportances: () => fitted().importances.slice(),
    toJSON: () => serialize(opts, fitted()),
  };
}

export function createRandomForest(options: RandomForestOptions = {}): RandomForest {
  return makeRandomForest(resolveOptions(options));
}

function intTensor(s: SerializedClassifier, name: string): Int32Array {
  return Int32Array.from(floatTensor(s, name));
}

function floatTensor(s: SerializedClassifier, name: string): Float32Array {
  const t = s.tensors[name];
  if (!t) throw new LensembleError(`${RANDOM_FOREST_KIND}: serialized model lacks tensor '${name}'`);
  return t.data;
}

export function fromJSON(s: SerializedClassifier): RandomForest {
  if (s.kind !== RANDOM_FOREST_KIND) throw new LensembleError(`${RANDOM_FOREST_KIND}: cannot restore a '${s.kind}' model`);
  const config = s.config as { options: RandomForestOptions & { maxDepth: number | null }; nFeatures: number; nClasses: number };
  const opts = resolveOptions({ ...config.options, maxDepth: config.options.maxDepth ?? undefined });
  const model: ForestModel = {
    nFeatures: config.nFeatures,
    nClasses: config.nClasses,
    roots: intTensor(s, 'roots'),
    feature: intTensor(s, 'feature'),
    threshold: floatTensor(s, 'threshold').slice(),
    left: intTensor(s, 'left'),
    right: intTensor(s, 'right'),
    valueOffset: intTensor(s, 'valueOffset'),
    values: floatTensor(s, 'values').slice(),
    importances: floatTensor(s, 'featureImportances').slice(),
  };
  return makeRandomForest(opts, model);
}
