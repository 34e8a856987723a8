import type { Classifier, SerializedClassifier } from './classifier.js';
import { fromJSON as knnFromJSON, createKnn, KNN_KIND } from './knn.js';
import { fromJSON as ldaFromJSON, createLda, LDA_KIND } from './lda.js';
import { createLinearHead, linearHeadFromJSON } from './linear.js';
import { createMlpHead, mlpHeadFromJSON } from './mlp.js';
import { fromJSON as randomForestFromJSON, createRandomForest, RANDOM_FOREST_KIND } from './random-forest.js';
import { fromJSON as svmFromJSON, createSvm, SVM_KIND } from './svm.js';
import { stripUndefined } from '../util/objects.js';

/** Heads the transfer pipeline trains on backbone features; classical classifiers work there too. */
export const headKinds = ['linear', 'mlp', RANDOM_FOREST_KIND, SVM_KIND, KNN_KIND, LDA_KIND] as const;
export type HeadKind = (typeof headKinds)[number];

/** The knobs the CLI exposes; each head takes the ones that apply to it. */
export interface HeadOptions {
  seed?: number;
  epochs?: number;
  lr?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  hidden?: number;
  dropout?: number;
}

export function createHead(kind: HeadKind, nClasses: number, options: HeadOptions = {}): Classifier {
  const { seed = 0, epochs, lr, weightDecay, labelSmoothing, hidden, dropout } = options;
  const neural = stripUndefined({ seed, epochs, lr, weightDecay, labelSmoothing });
  switch (kind) {
    case 'linear':
      return createLinearHead(nClasses, neural);
    case 'mlp':
      return createMlpHead(nClasses, { ...neural, ...stripUndefined({ hidden: hidden === undefined ? undefined : [hidden], dropout }) });
    case RANDOM_FOREST_KIND:
      return createRandomForest({ seed, nClasses });
    case SVM_KIND:
      return createSvm({ seed, nClasses });
    case KNN_KIND:
      return createKnn({ nClasses });
    case LDA_KIND:
      return createLda({ nClasses });
  }
}

const readers: Record<string, (s: SerializedClassifier) => Classifier> = {
  linear: linearHeadFromJSON,
  mlp: mlpHeadFromJSON,
  [RANDOM_FOREST_KIND]: randomForestFromJSON,
  [SVM_KIND]: svmFromJSON,
  [KNN_KIND]: knnFromJSON,
  [LDA_KIND]: ldaFromJSON,
};

/** Restores any fitted classifier from its `toJSON()` form. */
export function classifierFromJSON(serialized: SerializedClassifier): Classifier {
  const read = readers[serialized.kind];
  if (!read) throw new Error(`unknown classifier kind "${serialized.kind}" (known: ${Object.keys(readers).join(', ')})`);
  return read(serialized);
}
