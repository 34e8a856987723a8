import { resolveBackboneSpec } from '../backbone/resolve.js';
import { openBackbone, type Device } from '../backbone/session.js';
import type { LoadedBundle } from '../bundle/bundle.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import type { SkippedImage } from '../dataset/scan.js';
import { averageProbabilities } from '../ensemble/average.js';
import { extractFeatures } from '../features/extract.js';
import type { FeatureStore } from '../features/feature-store.js';
import { gatherFeatures } from '../features/gather.js';
import { zeros, type Matrix } from '../util/matrix.js';

export interface InferenceOptions {
  cacheDir: string;
  device?: Device;
  batchSize?: number;
  progress?: boolean;
}

export interface InferenceResult {
  /** Images every member could read, in input order. */
  images: IdentifiedImage[];
  /** Ensemble probabilities, one row per image in `images`. */
  probabilities: Matrix;
  /** Each member's own probabilities, same rows. */
  memberProbabilities: Matrix[];
  skipped: SkippedImage[];
}

/** Runs every member of a bundle on images (features cached by content) and averages their probabilities. */
export async function inferBundle(bundle: LoadedBundle, images: IdentifiedImage[], options: InferenceOptions): Promise<InferenceResult> {
  const skipped: SkippedImage[] = [];
  const stores: FeatureStore[] = [];
  for (const { member } of bundle.members) {
    const backbone = await resolveBackboneSpec(member.backbone.spec, { cacheDir: options.cacheDir, expectedSha256: member.backbone.sha256 });
    const session = await openBackbone(backbone, { device: options.device });
    try {
      const result = await extractFeatures({
        session,
        preprocess: member.preprocess,
        items: images.map((i) => ({ id: i.record.id, path: i.record.path, contentHash: i.contentHash })),
        cacheRoot: options.cacheDir,
        batchSize: options.batchSize,
        progress: options.progress,
        label: `Features ${member.backbone.spec.name}`,
      });
      stores.push(result.store);
      for (const f of result.failures) if (!skipped.some((s) => s.path === f.path)) skipped.push(f);
    } finally {
      await session.close();
    }
  }
  const usable = images.filter((img) => stores.every((s) => s.has(img.contentHash, 0)));
  if (usable.length === 0) {
    const empty = zeros(0, bundle.manifest.labels.length);
    return { images: [], probabilities: empty, memberProbabilities: bundle.members.map(() => empty), skipped };
  }
  const memberProbabilities = bundle.members.map(({ head }, k) => head.predictProba(gatherFeatures(stores[k], usable.map((i) => i.contentHash))));
  const probabilities = averageProbabilities(memberProbabilities, bundle.manifest.ensemble.weights);
  return { images: usable, probabilities, memberProbabilities, skipped };
}
