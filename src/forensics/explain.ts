import type { TracesEntry } from '../sources/traces-source.js';
import type { Classifier } from '../heads/classifier.js';
import { decodeImage } from '../images/decode.js';
import type { TraceSettings } from './trace-options.js';
import { extractFullTraceRecord, traceColumns } from './trace-features.js';

export interface KernelCell {
  /** Which map: "this image", "mean of <class>", or "push toward <class>". */
  map: string;
  channel: string;
  dx: number;
  dy: number;
  value: number;
}

export interface FeatureContribution {
  feature: string;
  value: number;
  /** Mean of the training images. */
  mean: number;
  /** Change of the predicted class's probability when this feature alone is set to its training mean (positive: it pushed toward the prediction). */
  push: number;
  /** Random-forest impurity importance, when the classifier has one. */
  importance?: number;
}

export interface TraceExplanation {
  image: string;
  label: string;
  probabilities: Record<string, number>;
  /** EM iterations per channel (R, G, B; for several N, N after N) and whether each converged. */
  iterations: number[];
  converged: boolean[];
  contributions: FeatureContribution[];
  /** Heat-map cells: the image's kernels, each class's mean kernels, and the push map. */
  cells: KernelCell[];
}

const KERNEL_NAME = /^(?:N(\d+) )?(\w+) k\((-?\d+),(-?\d+)\)$/;

/**
 * Parses "R k(-1,0)" (or "N5 R k(-1,0)" where several N are concatenated) into channel, offsets and
 * N (undefined for a single N); σ/iteration features are not kernel cells.
 */
export function parseKernelName(name: string): { channel: string; dx: number; dy: number; n?: number } | undefined {
  const m = KERNEL_NAME.exec(name);
  if (!m) return undefined;
  return { channel: m[2], dx: Number(m[3]), dy: Number(m[4]), ...(m[1] ? { n: Number(m[1]) } : {}) };
}

function hasImportances(head: Classifier): head is Classifier & { featureImportances(): Float32Array } {
  return typeof (head as { featureImportances?: unknown }).featureImportances === 'function';
}

/**
 * Explains one image's decision by a traces member: its estimated kernels next to the class means, and, per
 * kernel position, how much the prediction depends on it (occlusion: replace that value by the training mean).
 */
export async function explainTraceDecision(path: string, member: TracesEntry, head: Classifier, labels: string[]): Promise<TraceExplanation> {
  const image = await decodeImage(path);
  const traces: TraceSettings = member.traces;
  const full = extractFullTraceRecord(image, traces);
  const { columns } = traceColumns(traces);
  const x = Float32Array.from(columns, (c) => full.features[c]);
  const proba = head.predictProba({ rows: 1, cols: x.length, data: x }).data;
  let predicted = 0;
  for (let k = 1; k < proba.length; k++) if (proba[k] > proba[predicted]) predicted = k;

  // Occlusion: one row per feature, that feature replaced by the training mean.
  const occluded = new Float32Array(x.length * x.length);
  for (let j = 0; j < x.length; j++) {
    occluded.set(x, j * x.length);
    occluded[j * x.length + j] = member.overallMean[j];
  }
  const occludedProba = head.predictProba({ rows: x.length, cols: x.length, data: occluded });
  const importances = hasImportances(head) ? head.featureImportances() : undefined;
  const contributions: FeatureContribution[] = member.featureNames.map((feature, j) => ({
    feature,
    value: x[j],
    mean: member.overallMean[j],
    push: proba[predicted] - occludedProba.data[j * labels.length + predicted],
    ...(importances ? { importance: importances[j] } : {}),
  }));

  const cells: KernelCell[] = [];
  const addMap = (map: string, values: ArrayLike<number>) => {
    member.featureNames.forEach((name, j) => {
      const at = parseKernelName(name);
      if (at) cells.push({ map: at.n === undefined ? map : `${map}, N=${at.n}`, channel: at.channel, dx: at.dx, dy: at.dy, value: values[j] });
    });
  };
  addMap('this image', x);
  for (const label of labels) if (member.classMeans[label]) addMap(`mean of ${label}`, member.classMeans[label]);
  addMap(`push toward ${labels[predicted]}`, contributions.map((c) => c.push));

  return {
    image: path,
    label: labels[predicted],
    probabilities: Object.fromEntries(labels.map((l, k) => [l, proba[k]])),
    iterations: full.channels.map((c) => c.iterations),
    converged: full.channels.map((c) => c.converged),
    contributions: [...contributions].sort((a, b) => Math.abs(b.push) - Math.abs(a.push)),
    cells,
  };
}
