import type { Matrix } from '../util/matrix.js';
import type { Rng } from '../util/rng.js';

/**
 * Training data laid out once per forest for fast, exact split search: each feature's column
 * (column-major) and its samples in ascending value order (ties broken by sample index).
 */
export interface PresortedData {
  n: number;
  d: number;
  nClasses: number;
  y: Int32Array;
  /** d × n, column-major: columns[f * n + i] = X[i, f]. */
  columns: Float32Array;
  /** d × n: order[f * n + r] = the sample with rank r on feature f. */
  order: Int32Array;
  /** d × n: rank[f * n + i] = the rank of sample i on feature f (inverse of order). */
  rank: Int32Array;
  /** d × n: sortedValues[f * n + r] = the value of rank r on feature f. */
  sortedValues: Float32Array;
}

export function presort(X: Matrix, y: Int32Array, nClasses: number): PresortedData {
  const { rows: n, cols: d } = X;
  const columns = new Float32Array(d * n);
  for (let i = 0; i < n; i++) for (let f = 0; f < d; f++) columns[f * n + i] = X.data[i * d + f];
  const order = new Int32Array(d * n);
  const rank = new Int32Array(d * n);
  const sortedValues = new Float32Array(d * n);
  const idx = new Int32Array(n);
  for (let f = 0; f < d; f++) {
    const base = f * n;
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => columns[base + a] - columns[base + b] || a - b);
    order.set(idx, base);
    for (let r = 0; r < n; r++) {
      rank[base + idx[r]] = r;
      sortedValues[base + r] = columns[base + idx[r]];
    }
  }
  return { n, d, nClasses, y, columns, order, rank, sortedValues };
}

export interface TreeGrowOptions {
  maxDepth: number;
  minSamplesSplit: number;
  minSamplesLeaf: number;
  /** Features to look at per node (not counting constant ones, as scikit-learn does). */
  maxFeatures: number;
}

/**
 * One fitted tree as flat arrays. Node 0 is the root; a leaf has feature −1 and `valueOffset`
 * pointing at its nClasses class proportions in `values`; an inner node sends x to `left` when
 * x[feature] <= threshold.
 */
export interface TreeArrays {
  nodeCount: number;
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  valueOffset: Int32Array;
  values: Float32Array;
  /** Unnormalised mean decrease in impurity per feature (weighted Gini decrease summed over splits). */
  importances: Float64Array;
  depth: number;
}

/** Below this, a node's values are ordered by sorting their global ranks; above, by scanning the presorted order. */
function prefersScan(m: number, n: number): boolean {
  return m * Math.log2(m + 1) > 2 * n;
}

function sortRanks(ranks: Int32Array, m: number): void {
  if (m > 24) {
    ranks.subarray(0, m).sort();
    return;
  }
  for (let i = 1; i < m; i++) {
    const r = ranks[i];
    let j = i - 1;
    while (j >= 0 && ranks[j] > r) {
      ranks[j + 1] = ranks[j];
      j--;
    }
    ranks[j + 1] = r;
  }
}

function splitThreshold(lo: number, hi: number): number {
  // Midpoint as scikit-learn, but rounded to float32; if rounding lands on `hi`, `lo` itself separates exactly.
  const mid = Math.fround((lo + hi) / 2);
  return mid < hi ? mid : lo;
}

/**
 * Grows one CART tree (Gini, best split over a random subset of features at each node) on the samples
 * with positive weight; bootstrap counts arrive as weights. Exact thresholds: every distinct value
 * boundary of each candidate feature is evaluated.
 */
export function growTree(data: PresortedData, weight: Float64Array, options: TreeGrowOptions, rng: Rng): TreeArrays {
  const { n, d, nClasses: C, y, columns, order, rank, sortedValues } = data;
  const { maxDepth, minSamplesSplit, minSamplesLeaf, maxFeatures } = options;

  let inBag = 0;
  for (let i = 0; i < n; i++) if (weight[i] > 0) inBag++;
  const samples = new Int32Array(inBag);
  for (let i = 0, j = 0; i < n; i++) if (weight[i] > 0) samples[j++] = i;

  const capacity = Math.max(1, 2 * inBag - 1);
  const feature = new Int32Array(capacity);
  const threshold = new Float32Array(capacity);
  const left = new Int32Array(capacity);
  const right = new Int32Array(capacity);
  const valueOffset = new Int32Array(capacity);
  const values = new Float32Array(Math.max(1, inBag) * C);
  const importances = new Float64Array(d);

  const ranks = new Int32Array(inBag);
  const mark = new Int32Array(n);
  const featurePool = new Int32Array(d);
  for (let f = 0; f < d; f++) featurePool[f] = f;
  const nodeCounts = new Float64Array(C);
  const leftCounts = new Float64Array(C);
  const childCounts = new Float64Array(C);

  // Depth-first stack of (node, start, end, depth).
  const stack: number[] = [0, 0, inBag, 0];
  let nodeCount = 1;
  let leafCursor = 0;
  let stamp = 0;
  let treeDepth = 0;

  while (stack.length > 0) {
    const depth = stack.pop()!;
    const end = stack.pop()!;
    const start = stack.pop()!;
    const node = stack.pop()!;
    if (depth > treeDepth) treeDepth = depth;
    const m = end - start;

    nodeCounts.fill(0);
    let W = 0;
    for (let t = start; t < end; t++) {
      const s = samples[t];
      nodeCounts[y[s]] += weight[s];
      W += weight[s];
    }
    let sumSq = 0;
    let classesPresent = 0;
    for (let k = 0; k < C; k++) {
      sumSq += nodeCounts[k] * nodeCounts[k];
      if (nodeCounts[k] > 0) classesPresent++;
    }

    let bestFeature = -1;
    let bestThreshold = 0;
    let bestProxy = -Infinity;
    const canSplit = depth < maxDepth && m >= minSamplesSplit && m >= 2 * minSamplesLeaf && classesPresent > 1;

    if (canSplit) {
      const scan = prefersScan(m, n);
      if (scan) {
        stamp++;
        for (let t = start; t < end; t++) mark[samples[t]] = stamp;
      }
      let visited = 0;
      for (let i = 0; i < d && visited < maxFeatures; i++) {
        const j = i + rng.int(d - i);
        const f = featurePool[j];
        featurePool[j] = featurePool[i];
        featurePool[i] = f;
        const base = f * n;

        // The extreme ranks give the value range: equal values mean a constant feature here.
        let minRank = n;
        let maxRank = -1;
        for (let t = 0; t < m; t++) {
          const r = rank[base + samples[start + t]];
          ranks[t] = r;
          if (r < minRank) minRank = r;
          if (r > maxRank) maxRank = r;
        }
        const lo = sortedValues[base + minRank];
        if (lo === sortedValues[base + maxRank]) continue;
        visited++;
        if (!scan) sortRanks(ranks, m);

        // Walk the node's samples in ascending value order, moving each from the right side to the left.
        // Gini proxy as scikit-learn: maximise Σ L_k²/W_L + Σ R_k²/W_R.
        leftCounts.fill(0);
        let WL = 0;
        let WR = W;
        let sumSqL = 0;
        let sumSqR = sumSq;
        let pos = 0;
        let prev = lo;
        // A scan only needs the ranks between this node's extremes.
        const from = scan ? minRank : 0;
        const to = scan ? maxRank + 1 : m;
        for (let r = from; r < to; r++) {
          const at = scan ? base + r : base + ranks[r];
          const s = order[at];
          if (scan && mark[s] !== stamp) continue;
          const v = sortedValues[at];
          if (v > prev && pos >= minSamplesLeaf && m - pos >= minSamplesLeaf) {
            const proxy = sumSqL / WL + sumSqR / WR;
            if (proxy > bestProxy) {
              bestProxy = proxy;
              bestFeature = f;
              bestThreshold = splitThreshold(prev, v);
            }
          }
          const k = y[s];
          const w = weight[s];
          const lk = leftCounts[k];
          sumSqL += w * (2 * lk + w);
          sumSqR += w * (w - 2 * (nodeCounts[k] - lk));
          leftCounts[k] = lk + w;
          WL += w;
          WR -= w;
          prev = v;
          pos++;
        }
      }
    }

    let mid = start;
    if (bestFeature >= 0) {
      // Partition samples[start:end] so that the left child's come first.
      const base = bestFeature * n;
      let a = start;
      let b = end - 1;
      while (a <= b) {
        if (columns[base + samples[a]] <= bestThreshold) a++;
        else {
          const tmp = samples[a];
          samples[a] = samples[b];
          samples[b] = tmp;
          b--;
        }
      }
      mid = a;
    }

    // Thresholds lie below the right-hand value, so neither side is ever empty; the check is a backstop.
    if (bestFeature < 0 || mid === start || mid === end) {
      feature[node] = -1;
      valueOffset[node] = leafCursor;
      // W is 0 only for a tree whose bootstrap drew nothing but zero-weight rows: it knows nothing.
      for (let k = 0; k < C; k++) values[leafCursor + k] = W > 0 ? nodeCounts[k] / W : 1 / C;
      leafCursor += C;
      continue;
    }

    childCounts.fill(0);
    let WLeft = 0;
    for (let t = start; t < mid; t++) {
      const s = samples[t];
      childCounts[y[s]] += weight[s];
      WLeft += weight[s];
    }
    const WRight = W - WLeft;
    let sqL = 0;
    let sqR = 0;
    for (let k = 0; k < C; k++) {
      sqL += childCounts[k] * childCounts[k];
      const rk = nodeCounts[k] - childCounts[k];
      sqR += rk * rk;
    }
    // W·gini(node) − W_L·gini(left) − W_R·gini(right), with gini = 1 − Σ p_k².
    importances[bestFeature] += sqL / WLeft + sqR / WRight - sumSq / W;

    const leftNode = nodeCount++;
    const rightNode = nodeCount++;
    feature[node] = bestFeature;
    threshold[node] = bestThreshold;
    left[node] = leftNode;
    right[node] = rightNode;
    valueOffset[node] = -1;
    stack.push(rightNode, mid, end, depth + 1, leftNode, start, mid, depth + 1);
  }

  return {
    nodeCount,
    feature: feature.slice(0, nodeCount),
    threshold: threshold.slice(0, nodeCount),
    left: left.slice(0, nodeCount),
    right: right.slice(0, nodeCount),
    valueOffset: valueOffset.slice(0, nodeCount),
    values: values.slice(0, leafCursor),
    importances,
    depth: treeDepth,
  };
}
