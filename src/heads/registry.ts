import { z } from 'zod';
import { LensembleError } from '../util/errors.js';
import type { Classifier, SerializedClassifier } from './classifier.js';
import { defineClassifier, type HeadDefinition } from './define.js';
import { createKnn, fromJSON as knnFromJSON, KNN_DEFAULTS, KNN_KIND } from './knn.js';
import { createLda, fromJSON as ldaFromJSON, LDA_DEFAULTS, LDA_KIND } from './lda.js';
import { createLinearHead, LINEAR_HEAD_DEFAULTS, linearHeadFromJSON } from './linear.js';
import { createMlpHead, MLP_HEAD_DEFAULTS, mlpHeadFromJSON } from './mlp.js';
import type { NeuralHeadOptions } from './neural-head.js';
import { createRandomForest, fromJSON as randomForestFromJSON, RANDOM_FOREST_DEFAULTS, RANDOM_FOREST_KIND } from './random-forest.js';
import { createSvm, fromJSON as svmFromJSON, SVM_DEFAULTS, SVM_KIND } from './svm.js';

const positiveInt = () => z.number().int().positive();
const fraction = () => z.number().min(0).lt(1);

/** The training recipe shared by the linear and MLP heads (fastai's fit_one_cycle), defaults from `defaults`. */
function neuralParams(d: Omit<NeuralHeadOptions, 'hidden' | 'dropout'>) {
  return {
    epochs: positiveInt().default(d.epochs).describe('maximum epochs (early stopping on the validation loss may end sooner)'),
    batchSize: positiveInt().default(d.batchSize).describe('rows per optimisation step'),
    lr: z.union([z.number().positive(), z.literal('find')]).default('find').describe("peak learning rate of the one cycle, or 'find' (lr_find's valley)"),
    weightDecay: z.number().min(0).default(d.weightDecay).describe('AdamW decoupled weight decay'),
    labelSmoothing: fraction().default(d.labelSmoothing).describe('label smoothing ε of the cross-entropy'),
    inputDropout: fraction().default(d.inputDropout).describe('dropout on the (standardised) features'),
    l2: z.number().min(0).default(d.l2).describe('coupled L2 penalty in the loss'),
    patience: z.number().int().min(0).default(d.patience).describe('epochs without validation-loss improvement before stopping'),
    minDelta: z.number().min(0).default(d.minDelta).describe('smallest validation-loss drop that counts as improvement'),
    pctStart: z.number().gt(0).lt(1).default(d.pctStart).describe('fraction of the cycle spent warming up'),
    div: z.number().gt(0).default(d.div).describe('initial lr = lr / div'),
    divFinal: z.number().gt(0).default(d.divFinal).describe('final lr = lr / divFinal'),
    moms: z.tuple([z.number(), z.number(), z.number()]).default(d.moms).describe('Adam β1 cycle (start, middle, end)'),
    beta2: z.number().gt(0).lt(1).default(d.beta2).describe('Adam β2'),
    eps: z.number().positive().default(d.eps).describe('Adam ε'),
    init: z.enum(['zeros', 'kaiming']).default(d.init).describe('weight initialisation'),
    backend: z.enum(['auto', 'wasm-simd', 'js-f32', 'js-f64']).default(d.backend).describe('arithmetic backend'),
  };
}

function neuralOptions<T extends { lr: number | 'find' }>(params: T): Omit<T, 'lr'> & { lr: number | null } {
  return { ...params, lr: params.lr === 'find' ? null : params.lr };
}

const linear = defineClassifier({
  kind: 'linear',
  description: 'softmax regression on standardised features (a linear probe), trained like a fastai head',
  params: z.object(neuralParams(LINEAR_HEAD_DEFAULTS)),
  create: (p, { nClasses, seed }) => createLinearHead(nClasses, { ...neuralOptions(p), seed }),
  fromJSON: linearHeadFromJSON,
});

const hiddenWidths = z.union([positiveInt(), z.array(positiveInt())]);

const mlp = defineClassifier({
  kind: 'mlp',
  description: "fastai's create_head: dropout → Linear → ReLU → dropout → Linear, trained with fit_one_cycle",
  params: z.object({
    ...neuralParams(MLP_HEAD_DEFAULTS),
    hidden: hiddenWidths.default(MLP_HEAD_DEFAULTS.hidden[0]).describe('hidden layer width (a list in a config file for several layers)'),
    dropout: fraction().default(MLP_HEAD_DEFAULTS.dropout).describe('dropout after each hidden layer'),
  }),
  create: (p, { nClasses, seed }) => createMlpHead(nClasses, { ...neuralOptions(p), hidden: typeof p.hidden === 'number' ? [p.hidden] : p.hidden, seed }),
  fromJSON: mlpHeadFromJSON,
});

const randomForest = defineClassifier({
  kind: RANDOM_FOREST_KIND,
  description: 'random forest of CART trees (Gini), probability = mean of the trees’ leaf frequencies',
  params: z.object({
    nEstimators: positiveInt().default(RANDOM_FOREST_DEFAULTS.nEstimators).describe('number of trees'),
    maxDepth: z.union([positiveInt(), z.literal('none')]).default('none').describe("deepest node, or 'none' for unlimited"),
    minSamplesSplit: z.number().int().min(2).default(RANDOM_FOREST_DEFAULTS.minSamplesSplit).describe('a node with fewer samples is a leaf'),
    minSamplesLeaf: positiveInt().default(RANDOM_FOREST_DEFAULTS.minSamplesLeaf).describe('samples each child keeps at least'),
    maxFeatures: z.union([z.enum(['sqrt', 'log2', 'all']), z.number().positive()]).default(RANDOM_FOREST_DEFAULTS.maxFeatures).describe("features tried per split: sqrt, log2, all, a count or a fraction"),
    bootstrap: z.boolean().default(RANDOM_FOREST_DEFAULTS.bootstrap).describe('grow each tree on a bootstrap sample'),
  }),
  create: (p, { nClasses, seed }) => createRandomForest({ ...p, maxDepth: p.maxDepth === 'none' ? undefined : p.maxDepth, nClasses, seed }),
  fromJSON: randomForestFromJSON,
});

const svm = defineClassifier({
  kind: SVM_KIND,
  description: 'support vector machine (libsvm C-SVC) on standardised features, Platt-scaled probabilities',
  params: z.object({
    kernel: z.enum(['rbf', 'linear']).default(SVM_DEFAULTS.kernel).describe('kernel'),
    C: z.number().positive().default(SVM_DEFAULTS.C).describe('soft-margin cost'),
    gamma: z.union([z.number().positive(), z.enum(['scale', 'auto'])]).default(SVM_DEFAULTS.gamma).describe("RBF width: a number, 'scale' = 1/(d·var X), 'auto' = 1/d"),
    tolerance: z.number().positive().default(SVM_DEFAULTS.tolerance).describe('libsvm stopping tolerance'),
    cacheSizeMb: z.number().positive().default(SVM_DEFAULTS.cacheSizeMb).describe('libsvm kernel cache (MB)'),
  }),
  create: (p, { nClasses, seed }) => createSvm({ ...p, nClasses, seed }),
  fromJSON: svmFromJSON,
});

const knn = defineClassifier({
  kind: KNN_KIND,
  description: 'k nearest neighbours (Euclidean), probability = vote share',
  params: z.object({
    k: positiveInt().default(KNN_DEFAULTS.k).describe('neighbours that vote'),
    weights: z.enum(['uniform', 'distance']).default(KNN_DEFAULTS.weights).describe('uniform votes, or weighted by 1/distance'),
    standardize: z.boolean().default(KNN_DEFAULTS.standardize).describe('measure distances on standardised features'),
  }),
  create: (p, { nClasses }) => createKnn({ ...p, nClasses }),
  fromJSON: knnFromJSON,
});

const lda = defineClassifier({
  kind: LDA_KIND,
  description: 'linear discriminant analysis with covariance shrinkage (scikit-learn lsqr solver)',
  params: z.object({
    shrinkage: z.union([z.literal('auto'), z.number().min(0).max(1)]).default(LDA_DEFAULTS.shrinkage).describe("'auto' (Ledoit–Wolf) or an amount in [0, 1]"),
  }),
  create: (p, { nClasses }) => createLda({ ...p, nClasses }),
  fromJSON: ldaFromJSON,
});

/** Every head kind, in the order they are listed. */
export const heads: HeadDefinition[] = [mlp, linear, randomForest, svm, knn, lda];

export const headKinds = ['linear', 'mlp', RANDOM_FOREST_KIND, SVM_KIND, KNN_KIND, LDA_KIND] as const;
export type HeadKind = (typeof headKinds)[number];

export const DEFAULT_HEAD: HeadKind = 'mlp';

export function findHead(kind: string): HeadDefinition {
  const head = heads.find((h) => h.kind === kind);
  if (!head) throw new LensembleError(`unknown head "${kind}" (known: ${heads.map((h) => h.kind).join(', ')})`);
  return head;
}

/** A head's parameters with defaults filled in; unknown keys and bad values are named. */
export function parseHeadParams(kind: string, params: Record<string, unknown>): Record<string, unknown> {
  const result = findHead(kind).params.safeParse(params);
  if (!result.success) {
    const issues = result.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown ${kind} parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')} (${kind} takes: ${Object.keys(findHead(kind).params.shape).join(', ')})`;
      return `${kind} ${i.path.join('.')}: ${i.message}`;
    });
    throw new LensembleError(issues.join('; '));
  }
  return result.data as Record<string, unknown>;
}

/** A fresh, unfitted head of a kind from its (parsed or partial) parameters. */
export function createHead(kind: string, nClasses: number, options: { seed?: number; params?: Record<string, unknown> } = {}): Classifier {
  return findHead(kind).create(parseHeadParams(kind, options.params ?? {}), { nClasses, seed: options.seed ?? 0 });
}

/** Restores any fitted classifier from its `toJSON()` form. */
export function classifierFromJSON(serialized: SerializedClassifier): Classifier {
  const head = heads.find((h) => h.kind === serialized.kind);
  if (!head) throw new Error(`unknown classifier kind "${serialized.kind}" (known: ${heads.map((h) => h.kind).join(', ')})`);
  return head.fromJSON(serialized);
}
