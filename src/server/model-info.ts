import type { LoadedBundle } from '../bundle/bundle.js';
import type { MetricsSummary } from '../bundle/manifest.js';
import { findSourceKind } from '../sources/registry.js';

export interface MemberInfo {
  name: string;
  /** The member's source kind: backbone, traces, … */
  kind: string;
  /** Backbone name (null for sources without one, e.g. EM traces). */
  backbone: string | null;
  /** Backbone input size and resize rule (null for sources without one). */
  inputSize: { width: number; height: number; resize: string } | null;
  head: string;
  tta: string;
  weight: number;
  valid?: MetricsSummary;
  validTta?: MetricsSummary;
}

export interface ModelInfo {
  labels: string[];
  extraTargets: Record<string, string[]>;
  members: MemberInfo[];
  /** How members are weighted: fit (out-of-fold), mean, or single. */
  weights: string;
  validation: MetricsSummary | null;
  createdAt: string;
  lensembleVersion: string;
  /** How this server runs the model. */
  serving: { tta: boolean; device: string; maxBytes: number; /** Feature rows kept in memory (0: the disk cache). */ cacheRows?: number };
  /** Members whose Grad-CAM maps `?explain=1` mixes, and those left out (why). */
  heatmaps?: { members: string[]; leftOut: { name: string; reason: string }[] };
}

/** What `GET /api/model` returns: labels, members and validation metrics from the bundle's manifest. */
export function describeModel(bundle: LoadedBundle, serving: ModelInfo['serving']): ModelInfo {
  const { manifest } = bundle;
  const members = manifest.members.map((m, i): MemberInfo => {
    const d = findSourceKind(m.source.kind).describe(m.source);
    return {
      name: m.name,
      kind: m.source.kind,
      backbone: d.backbone,
      inputSize: d.inputSize,
      head: m.head.kind,
      tta: m.tta.kind,
      weight: manifest.ensemble.weights[i] ?? 1,
      ...(m.valid ? { valid: m.valid } : {}),
      ...(m.validTta ? { validTta: m.validTta } : {}),
    };
  });
  return {
    labels: manifest.labels,
    extraTargets: manifest.extraTargets ?? {},
    members,
    weights: manifest.ensemble.method,
    validation: manifest.validation ?? null,
    createdAt: manifest.createdAt,
    lensembleVersion: manifest.lensembleVersion,
    serving,
  };
}
