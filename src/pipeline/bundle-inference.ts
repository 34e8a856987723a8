import { resolveBackboneSpec } from '../backbone/resolve.js';
import { openBackbone, type Device, type SessionCache } from '../backbone/session.js';
import type { LoadedBundle, LoadedMember } from '../bundle/bundle.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import type { SkippedImage } from '../dataset/scan.js';
import { averageProbabilities } from '../ensemble/average.js';
import { combineTta } from '../ensemble/tta.js';
import { extractFeatures } from '../features/extract.js';
import type { FeatureStore } from '../features/feature-store.js';
import { gatherFeatures } from '../features/gather.js';
import { ttaPlan } from '../features/member-views.js';
import { extractTraceFeatures } from '../forensics/trace-features.js';
import type { Classifier } from '../heads/classifier.js';
import { zeros, type Matrix } from '../util/matrix.js';

export interface InferenceOptions {
  cacheDir: string;
  device?: Device;
  batchSize?: number;
  progress?: boolean;
  /** Use each member's test-time augmentation (default true). */
  tta?: boolean;
  /** Reuse open backbone sessions across calls (a server); without it sessions open and close per call. */
  sessions?: SessionCache;
}

export interface InferenceResult {
  /** Images every member could read, in input order. */
  images: IdentifiedImage[];
  /** Ensemble probabilities, one row per image in `images`. */
  probabilities: Matrix;
  /** Each member's own probabilities, same rows. */
  memberProbabilities: Matrix[];
  /** Ensemble probabilities of each extra target (multi-target bundles). */
  extraProbabilities: Record<string, Matrix>;
  skipped: SkippedImage[];
}

interface MemberViews {
  plain: FeatureStore;
  tta?: { store: FeatureStore; views: number[] };
}

async function extractMemberViews(loaded: LoadedMember, images: IdentifiedImage[], options: InferenceOptions, skipped: SkippedImage[]): Promise<MemberViews> {
  const { member } = loaded;
  const items = images.map((i) => ({ id: i.record.id, path: i.record.path, contentHash: i.contentHash }));
  const note = (failures: SkippedImage[]) => {
    for (const f of failures) if (!skipped.some((s) => s.path === f.path)) skipped.push(f);
  };
  if (member.kind === 'traces') {
    const traces = await extractTraceFeatures(items, member.traces, { cacheDir: options.cacheDir, progress: options.progress, label: `${member.name}` });
    note(traces.failures);
    return { plain: traces.features };
  }
  const backbone = await resolveBackboneSpec(member.backbone.spec, { cacheDir: options.cacheDir, expectedSha256: member.backbone.sha256 });
  const session = options.sessions ? await options.sessions.open(backbone, { device: options.device }) : await openBackbone(backbone, { device: options.device });
  const common = { session, preprocess: member.preprocess, items, cacheRoot: options.cacheDir, batchSize: options.batchSize, progress: options.progress };
  try {
    const plain = await extractFeatures({ ...common, label: `${member.name}` });
    note(plain.failures);
    const plan = options.tta === false ? undefined : ttaPlan(member.tta, member.augmentation);
    if (!plan) return { plain: plain.store };
    const tta = await extractFeatures({ ...common, recipe: plan.recipe, views: plan.views, label: `${member.name} TTA` });
    note(tta.failures);
    return { plain: plain.store, tta: { store: tta.store, views: plan.views } };
  } finally {
    if (!options.sessions) await session.close();
  }
}

function memberProbabilities(head: Classifier, views: MemberViews, hashes: string[], member: LoadedMember['member']): Matrix {
  const plain = head.predictProba(gatherFeatures(views.plain, hashes));
  if (!views.tta) return plain;
  const augmented = views.tta.views.map((v) => head.predictProba(gatherFeatures(views.tta!.store, hashes, v)));
  return combineTta(member.tta.kind, plain, augmented, member.tta.beta);
}

/** Runs every member of a bundle on images (features cached by content), with TTA, and averages the members. */
export async function inferBundle(bundle: LoadedBundle, images: IdentifiedImage[], options: InferenceOptions): Promise<InferenceResult> {
  const skipped: SkippedImage[] = [];
  const views: MemberViews[] = [];
  for (const loaded of bundle.members) views.push(await extractMemberViews(loaded, images, options, skipped));
  const usable = images.filter((img) => views.every((v) => v.plain.has(img.contentHash, 0) && (!v.tta || v.tta.views.every((k) => v.tta!.store.has(img.contentHash, k)))));
  const targets = Object.keys(bundle.manifest.extraTargets ?? {});
  if (usable.length === 0) {
    const empty = zeros(0, bundle.manifest.labels.length);
    return { images: [], probabilities: empty, memberProbabilities: bundle.members.map(() => empty), extraProbabilities: Object.fromEntries(targets.map((t) => [t, zeros(0, bundle.manifest.extraTargets![t].length)])), skipped };
  }
  const hashes = usable.map((i) => i.contentHash);
  const weights = bundle.manifest.ensemble.weights;
  const members = bundle.members.map((m, k) => memberProbabilities(m.head, views[k], hashes, m.member));
  const extraProbabilities = Object.fromEntries(
    targets.map((t) => [t, averageProbabilities(bundle.members.map((m, k) => memberProbabilities(m.extra![t], views[k], hashes, m.member)), weights)]),
  );
  return { images: usable, probabilities: averageProbabilities(members, weights), memberProbabilities: members, extraProbabilities, skipped };
}
