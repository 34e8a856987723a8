import type { EnsembleWeights } from '../ensemble/choose-weights.js';
import type { EnsembleEvaluation } from '../ensemble/ensemble.js';
import type { ResultRow } from '../evaluate/results-table.js';
import type { FitReport } from '../heads/classifier.js';
import type { FittedMember } from './fit-members.js';

/** "best/total" epochs of heads that train by epochs, counted from 1 (best 3 of 10 → "3/10"); "-" otherwise. */
export function epochsOf(fit: FitReport): string {
  const epochs = fit.epochs;
  if (!Array.isArray(epochs)) return '-';
  const best = typeof fit.bestEpoch === 'number' ? fit.bestEpoch + 1 : epochs.length;
  return `${best}/${epochs.length}`;
}

/** The report's own table: one row per member, plus the ensemble's when there are several. */
export function membersTable(members: FittedMember[], validation: EnsembleEvaluation, weights: EnsembleWeights): ResultRow[] {
  const rows: ResultRow[] = members.map((m, k) => ({
    member: m.name,
    arch: m.trained.description.arch,
    head: m.spec.head.kind,
    imageSize: m.trained.description.imageSize,
    resize: m.trained.description.resize,
    views: m.trained.features.augmented ? m.spec.views : 0,
    epochs: epochsOf(m.main.fit),
    weight: weights.weights[k],
    errorRate: validation.members[k].evaluationPlain.errorRate,
    errorRateTta: m.spec.tta.kind === 'none' ? undefined : validation.members[k].evaluation.errorRate,
    extractSeconds: m.trained.features.seconds,
    fitSeconds: m.fitSeconds,
    peakMemoryBytes: m.peakMemory,
  }));
  if (members.length > 1) {
    rows.push({
      member: 'ensemble',
      arch: `ensemble of ${members.length}`,
      head: weights.method === 'fit' ? 'fitted weights' : 'mean',
      imageSize: '-',
      resize: '-',
      views: Math.max(...rows.map((r) => r.views)),
      epochs: '-',
      weight: 1,
      errorRate: validation.evaluationPlain.errorRate,
      errorRateTta: members.some((m) => m.spec.tta.kind !== 'none') ? validation.evaluation.errorRate : undefined,
      extractSeconds: rows.reduce((s, r) => s + r.extractSeconds, 0),
      fitSeconds: rows.reduce((s, r) => s + r.fitSeconds, 0),
      peakMemoryBytes: Math.max(...rows.map((r) => r.peakMemoryBytes)),
    });
  }
  return rows;
}
