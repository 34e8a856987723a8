import type { Classifier } from '../heads/classifier.js';
import { createLda, LDA_KIND } from '../heads/lda.js';
import { LensembleError } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';

/** One trace feature (a kernel position, a σ, an iteration count) and how it tells the classes apart. */
export interface FeatureSeparation {
  feature: string;
  /** Per class (in label order): mean and standard deviation over its training images. */
  means: number[];
  stds: number[];
  /** (mean of the positive class − mean of the reference class) / pooled within-class std: this feature's separation alone. */
  effectSize: number;
  /** Random-forest impurity importance (sums to 1 over the features), when the head is a forest. */
  importance?: number;
  /**
   * The LDA direction (toward the positive class) in standard-deviation units: its weight on this feature times the
   * feature's pooled within-class std, so features of any scale compare.
   */
  ldaWeight: number;
}

export interface ClassSeparation {
  labels: string[];
  /** The class the directions point toward (a label like "fake" when there is one, else the last) and the one they start from. */
  positive: number;
  reference: number;
  counts: number[];
  features: FeatureSeparation[];
  /** Where the LDA direction came from: the member's own LDA head, or an LDA fitted on the same features for the page. */
  ldaSource: 'head' | 'fitted';
  /** The forest's own importances were available (the head is a random forest). */
  hasImportance: boolean;
}

function hasImportances(head: Classifier): head is Classifier & { featureImportances(): Float32Array } {
  return typeof (head as { featureImportances?: unknown }).featureImportances === 'function';
}

/** The discriminant weights of class `to` minus class `from` (for two classes: the LDA direction). */
function ldaDirection(lda: Classifier, d: number, from: number, to: number): Float64Array {
  const coef = lda.toJSON().tensors.coef;
  if (!coef || coef.shape[1] !== d) throw new LensembleError(`LDA coefficients have shape [${coef?.shape.join(', ')}], expected [classes, ${d}]`);
  return Float64Array.from({ length: d }, (_, j) => coef.data[to * d + j] - coef.data[from * d + j]);
}

const GENERATED = /fake|^(generated|synthetic|gan|ai)([^a-z]|$)/i;

/** The class directions point toward: the first label that names generated images ("fake…", "generated", "gan"…), else the last. */
export function positiveClass(labels: string[]): number {
  const found = labels.findIndex((l) => GENERATED.test(l));
  return found >= 0 ? found : labels.length - 1;
}

/**
 * Per feature, the class means and spreads of the training traces, and how much each feature separates the
 * reference class from the positive one (see `positiveClass`): alone (effect size), to the head (forest
 * importance), and along the LDA direction (the head's own if it is an LDA, else one fitted here on the same rows
 * with the default shrinkage).
 */
export function classSeparation(names: string[], X: Matrix, y: Int32Array, labels: string[], head: Classifier): ClassSeparation {
  const { rows: n, cols: d } = X;
  if (names.length !== d) throw new LensembleError(`${names.length} feature names for ${d} feature columns`);
  if (y.length !== n) throw new LensembleError(`${y.length} labels for ${n} training rows`);
  const C = labels.length;
  if (C < 2) throw new LensembleError('class separation needs at least two classes');
  const counts = new Array<number>(C).fill(0);
  const sums = Array.from({ length: C }, () => new Float64Array(d));
  for (let i = 0; i < n; i++) {
    counts[y[i]]++;
    for (let j = 0; j < d; j++) sums[y[i]][j] += X.data[i * d + j];
  }
  if (counts.some((c) => c < 2)) throw new LensembleError(`each class needs at least 2 training images (counts: ${labels.map((l, c) => `${l} ${counts[c]}`).join(', ')})`);
  const means = sums.map((s, c) => Float64Array.from(s, (v) => v / counts[c]));
  const squares = Array.from({ length: C }, () => new Float64Array(d));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) squares[y[i]][j] += (X.data[i * d + j] - means[y[i]][j]) ** 2;
  }
  const stds = squares.map((sq, c) => Float64Array.from(sq, (v) => Math.sqrt(v / (counts[c] - 1))));
  const pooled = Float64Array.from({ length: d }, (_, j) => Math.sqrt(squares.reduce((s, sq) => s + sq[j], 0) / (n - C)));

  const positive = positiveClass(labels);
  const reference = positive === 0 ? 1 : 0;
  const ownLda = head.kind === LDA_KIND;
  let lda = head;
  if (!ownLda) {
    lda = createLda({ nClasses: C });
    lda.fit(X, y);
  }
  const direction = ldaDirection(lda, d, reference, positive);
  const importances = hasImportances(head) ? head.featureImportances() : undefined;
  const features = names.map((feature, j): FeatureSeparation => ({
    feature,
    means: means.map((m) => m[j]),
    stds: stds.map((s) => s[j]),
    effectSize: pooled[j] > 0 ? (means[positive][j] - means[reference][j]) / pooled[j] : 0,
    ...(importances ? { importance: importances[j] } : {}),
    ldaWeight: direction[j] * pooled[j],
  }));
  return { labels, positive, reference, counts, features, ldaSource: ownLda ? 'head' : 'fitted', hasImportance: importances !== undefined };
}

/**
 * The features the detector leans on most: by forest importance when there is one, else by the size of the
 * standardised LDA weight.
 */
export function topFeatures(separation: ClassSeparation, k: number): FeatureSeparation[] {
  const score = (f: FeatureSeparation) => (separation.hasImportance ? f.importance! : Math.abs(f.ldaWeight));
  return [...separation.features].sort((a, b) => score(b) - score(a)).slice(0, k);
}
