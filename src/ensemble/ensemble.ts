import type { IdentifiedImage } from '../dataset/identify.js';
import type { SkippedImage } from '../dataset/scan.js';
import { evaluateProbabilities, type Evaluation } from '../evaluate/metrics.js';
import { gatherFeatures } from '../features/gather.js';
import type { Classifier } from '../heads/classifier.js';
import type { LoadedSource, SourceFeatures } from '../sources/source-kind.js';
import { explainPredictions, type ExplainOptions, type HeatmapSet } from '../explain/explain-images.js';
import { LensembleError } from '../util/errors.js';
import { takeRows, zeros, type Matrix } from '../util/matrix.js';
import { averageProbabilities } from './average.js';
import { assess, noveltyScore, type Assessment, type Calibration } from './calibration.js';
import { combineTta, type TtaSettings } from './tta.js';

/** A member ready to predict: its source (sessions open on first need) and its fitted heads. */
export interface EnsembleMember {
  name: string;
  source: LoadedSource;
  tta: TtaSettings;
  head: Classifier;
  /** Heads of extra targets (e.g. variety), on the same features. */
  extraHeads: Record<string, Classifier>;
}

export interface MemberProbabilities {
  plain: Matrix;
  /** With the member's TTA (the plain matrix when it has none or TTA is off). */
  tta: Matrix;
}

export interface EnsembleProbabilities {
  /** Images every member could read, in input order; rows of every matrix below. */
  images: IdentifiedImage[];
  /** The ensemble's probabilities: with TTA when asked for (the default). */
  probabilities: Matrix;
  /** The ensemble's probabilities without TTA. */
  probabilitiesPlain: Matrix;
  members: MemberProbabilities[];
  /** Ensemble probabilities of each extra target. */
  extra: Record<string, MemberProbabilities>;
  /** Per image, whether it looks unlike the validation images (models calibrated at training). */
  assessments?: Assessment[];
  skipped: SkippedImage[];
}

export interface PredictOptions {
  /** Use each member's test-time augmentation (default true). */
  tta?: boolean;
  progress?: boolean;
}

export interface EnsembleEvaluation {
  /** With TTA (when asked for), and without. */
  evaluation: Evaluation;
  evaluationPlain: Evaluation;
  members: { name: string; evaluation: Evaluation; evaluationPlain: Evaluation }[];
  extraTargets: { name: string; labels: string[]; evaluation: Evaluation; evaluationPlain: Evaluation }[];
  /** The probabilities behind the numbers (for reports: top losses, calibration). */
  probabilities: EnsembleProbabilities;
  skipped: SkippedImage[];
}

export interface Ensemble {
  labels: string[];
  extraTargets: Record<string, string[]>;
  members: EnsembleMember[];
  weights: number[];
  predictProba(images: IdentifiedImage[], options?: PredictOptions): Promise<EnsembleProbabilities>;
  /** Metrics on labelled images (labels by name in `record.label`, extra targets in `record.targets`). */
  evaluate(images: IdentifiedImage[], options?: PredictOptions): Promise<EnsembleEvaluation>;
  /** Predictions with a Grad-CAM heatmap per image (src/explain); `predictions` may be reused from predictProba. */
  explain(images: IdentifiedImage[], options?: PredictOptions & ExplainOptions & { predictions?: EnsembleProbabilities }): Promise<EnsembleExplanation>;
}

export interface EnsembleExplanation extends HeatmapSet {
  predictions: EnsembleProbabilities;
}

function complete(features: SourceFeatures, hash: string): boolean {
  return features.plain.has(hash, 0) && (!features.tta || features.tta.views.every((v) => features.tta!.store.has(hash, v)));
}

function memberProbabilities(head: Classifier, features: SourceFeatures, hashes: string[], tta: TtaSettings): MemberProbabilities {
  const plain = head.predictProba(gatherFeatures(features.plain, hashes));
  if (!features.tta) return { plain, tta: plain };
  const views = features.tta.views.map((v) => head.predictProba(gatherFeatures(features.tta!.store, hashes, v)));
  return { plain, tta: combineTta(tta.kind, plain, views, tta.beta) };
}

/**
 * The one inference path: every member's features (cached by content), its heads, its TTA, and the weighted
 * average. Training-time validation, evaluate, predict, submit and serve all predict through it.
 */
export function createEnsemble(init: { labels: string[]; extraTargets?: Record<string, string[]>; members: EnsembleMember[]; weights: number[]; calibration?: Calibration }): Ensemble {
  const { labels, members, weights, calibration } = init;
  const novelty = (calibration?.novelty ?? []).map((n) => ({ ...n, k: members.findIndex((m) => m.name === n.member), unit: n.centroids.map((c) => Float32Array.from(c)) })).filter((n) => n.k >= 0);
  const extraTargets = init.extraTargets ?? {};
  if (weights.length !== members.length) throw new Error(`${weights.length} ensemble weights for ${members.length} members`);

  async function predictProba(images: IdentifiedImage[], options: PredictOptions = {}): Promise<EnsembleProbabilities> {
    const useTta = options.tta !== false;
    const items = images.map((i) => ({ id: i.record.id, path: i.record.path, contentHash: i.contentHash }));
    const skipped: SkippedImage[] = [];
    const features: SourceFeatures[] = [];
    for (const m of members) {
      const f = await m.source.extract(items, { tta: useTta && m.tta.kind !== 'none' ? m.tta : undefined, label: m.name, progress: options.progress });
      for (const failure of f.failures) if (!skipped.some((s) => s.path === failure.path)) skipped.push(failure);
      features.push(f);
    }
    const usable = images.filter((img) => features.every((f) => complete(f, img.contentHash)));
    const hashes = usable.map((i) => i.contentHash);
    const targets = Object.keys(extraTargets);
    if (usable.length === 0) {
      const empty = zeros(0, labels.length);
      return {
        images: [],
        probabilities: empty,
        probabilitiesPlain: empty,
        members: members.map(() => ({ plain: empty, tta: empty })),
        extra: Object.fromEntries(targets.map((t) => [t, { plain: zeros(0, extraTargets[t].length), tta: zeros(0, extraTargets[t].length) }])),
        skipped,
      };
    }
    const perMember = members.map((m, k) => memberProbabilities(m.head, features[k], hashes, m.tta));
    const mix = (parts: MemberProbabilities[]): MemberProbabilities => ({
      plain: averageProbabilities(parts.map((p) => p.plain), weights),
      tta: averageProbabilities(parts.map((p) => p.tta), weights),
    });
    const ensemble = mix(perMember);
    const extra = Object.fromEntries(targets.map((t) => [t, mix(members.map((m, k) => memberProbabilities(m.extraHeads[t], features[k], hashes, m.tta)))]));
    const assessments = calibration
      ? hashes.map((hash, i) => {
          const scores = novelty.map((n) => noveltyScore(features[n.k].plain.get(hash, 0)!, n.unit) / n.threshold);
          return assess(calibration, Math.max(...ensemble.tta.data.subarray(i * labels.length, (i + 1) * labels.length)), scores.length ? Math.max(...scores) : undefined);
        })
      : undefined;
    return {
      images: usable,
      probabilities: ensemble.tta,
      probabilitiesPlain: ensemble.plain,
      members: perMember,
      extra,
      skipped,
      ...(assessments ? { assessments } : {}),
    };
  }

  async function evaluate(images: IdentifiedImage[], options: PredictOptions = {}): Promise<EnsembleEvaluation> {
    const result = await predictProba(images, options);
    const index = new Map(labels.map((l, i) => [l, i]));
    const y = result.images.map((img) => index.get(img.record.label ?? '') ?? -1);
    const unknown = result.images.find((_, i) => y[i] < 0);
    if (unknown) throw new LensembleError(`image ${unknown.record.id} has label "${unknown.record.label ?? ''}", not one of ${labels.join(', ')}`);
    const extra = Object.entries(extraTargets).map(([name, names]) => {
      // Only the images whose value of this target is known count.
      const rows = result.images.map((img, i) => ({ i, c: names.indexOf(img.record.targets?.[name] ?? '') })).filter((r) => r.c >= 0);
      const pick = (m: Matrix) => takeRows(m, rows.map((r) => r.i));
      const yt = rows.map((r) => r.c);
      const p = result.extra[name];
      return { name, labels: names, evaluation: evaluateProbabilities(names, yt, pick(p.tta)), evaluationPlain: evaluateProbabilities(names, yt, pick(p.plain)) };
    });
    return {
      evaluation: evaluateProbabilities(labels, y, result.probabilities),
      evaluationPlain: evaluateProbabilities(labels, y, result.probabilitiesPlain),
      members: members.map((m, k) => ({
        name: m.name,
        evaluation: evaluateProbabilities(labels, y, result.members[k].tta),
        evaluationPlain: evaluateProbabilities(labels, y, result.members[k].plain),
      })),
      extraTargets: extra,
      probabilities: result,
      skipped: result.skipped,
    };
  }

  async function explain(images: IdentifiedImage[], options: PredictOptions & ExplainOptions & { predictions?: EnsembleProbabilities } = {}): Promise<EnsembleExplanation> {
    const predictions = options.predictions ?? (await predictProba(images, options));
    return { predictions, ...(await explainPredictions(members, weights, predictions, options)) };
  }

  return { labels, extraTargets, members, weights, predictProba, evaluate, explain };
}
