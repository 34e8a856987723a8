import type { Device, SessionCache } from '../backbone/session.js';
import type { LoadedBundle } from '../bundle/bundle.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import { inferBundle } from '../pipeline/bundle-inference.js';
import { argmax, row } from '../util/matrix.js';

export interface ServedPrediction {
  name: string;
  label: string;
  confidence: number;
  probabilities: Record<string, number>;
  /** Extra targets (e.g. variety) for multi-target models. */
  targets?: Record<string, { label: string; confidence: number; probabilities: Record<string, number> }>;
}

export interface SkippedUpload {
  name: string;
  reason: string;
}

export interface ClassifyResult {
  predictions: ServedPrediction[];
  skipped: SkippedUpload[];
}

export interface ClassifyOptions {
  cacheDir: string;
  device: Device;
  tta: boolean;
  batchSize?: number;
  /** Backbone sessions kept open between requests. */
  sessions?: SessionCache;
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;


function describe(labels: string[], p: Float32Array) {
  const best = argmax(p);
  return { label: labels[best], confidence: round(p[best]), probabilities: Object.fromEntries(labels.map((l, k) => [l, round(p[k])])) };
}

/** Runs the whole bundle (every member, TTA, ensemble average) on identified images. */
export async function classifyImages(bundle: LoadedBundle, images: IdentifiedImage[], options: ClassifyOptions): Promise<ClassifyResult> {
  if (images.length === 0) return { predictions: [], skipped: [] };
  const result = await inferBundle(bundle, images, { cacheDir: options.cacheDir, device: options.device, tta: options.tta, batchSize: options.batchSize, sessions: options.sessions, progress: false });
  const { labels } = bundle.manifest;
  const extraTargets = Object.entries(bundle.manifest.extraTargets ?? {});
  const predictions = result.images.map((img, i): ServedPrediction => {
    const prediction: ServedPrediction = { name: img.record.id, ...describe(labels, row(result.probabilities, i)) };
    if (extraTargets.length) {
      prediction.targets = Object.fromEntries(extraTargets.map(([t, names]) => [t, describe(names, row(result.extraProbabilities[t], i))]));
    }
    return prediction;
  });
  return { predictions, skipped: result.skipped.map((s) => ({ name: s.id, reason: s.reason })) };
}
