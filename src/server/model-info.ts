import type { LoadedBundle } from '../bundle/bundle.js';
import type { MetricsSummary } from '../bundle/manifest.js';

export interface MemberInfo {
  name: string;
  kind: 'backbone' | 'traces';
  /** Backbone name (null for EM-traces members). */
  backbone: string | null;
  /** Backbone input size and resize rule (null for EM-traces members). */
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
  validation: MetricsSummary | null;
  createdAt: string;
  lensembleVersion: string;
  /** How this server runs the model. */
  serving: { tta: boolean; device: string; maxBytes: number };
}

/** What `GET /api/model` returns: labels, members and validation metrics from the bundle's manifest. */
export function describeModel(bundle: LoadedBundle, serving: ModelInfo['serving']): ModelInfo {
  const { manifest } = bundle;
  const members = manifest.members.map((m, i): MemberInfo => ({
    name: m.name,
    kind: m.kind,
    backbone: m.kind === 'backbone' ? m.backbone.spec.name : null,
    inputSize: m.kind === 'backbone' ? { width: m.preprocess.width, height: m.preprocess.height, resize: m.preprocess.resize } : null,
    head: m.head.kind,
    tta: m.tta.kind,
    weight: manifest.ensemble.weights[i] ?? 1,
    ...(m.valid ? { valid: m.valid } : {}),
    ...(m.validTta ? { validTta: m.validTta } : {}),
  }));
  return {
    labels: manifest.labels,
    extraTargets: manifest.extraTargets ?? {},
    members,
    validation: manifest.validation ?? null,
    createdAt: manifest.createdAt,
    lensembleVersion: manifest.lensembleVersion,
    serving,
  };
}
