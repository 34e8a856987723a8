import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { saveBundle, type MemberHeads } from '../bundle/bundle.js';
import { writeRunPlots, type MemberCurve } from '../report/plots.js';
import type { FittedMembers } from './fit-members.js';
import type { PreparedData } from './prepare-data.js';
import type { Interpretation } from '../explain/top-losses.js';
import { writeSourcePages } from './report-pages.js';
import { writeTrainingReport } from './training-report.js';
import type { MemberResult, TrainResult } from './train.js';

export interface RunFolderInput {
  result: TrainResult;
  data: PreparedData;
  fitted: FittedMembers;
  heads: MemberHeads[];
  /** Top losses (and their PNG grid) and most-confused pairs on the validation split. */
  interpretation: { interpretation: Interpretation; grid: Buffer | null };
}

export const TOP_LOSSES_PNG = 'top-losses.png';
export const INTERPRETATION_JSON = 'interpretation.json';

/** Per-epoch loss curves of the heads that train by epochs (none for closed-form classifiers). */
function curvesOf(members: MemberResult[]): MemberCurve[] | undefined {
  const curves = members
    .filter((m) => Array.isArray(m.fit.epochs) && m.fit.epochs.length > 0)
    .map((m) => ({
      member: m.name,
      epochs: (m.fit.epochs as { epoch: number; trainLoss: number; validLoss: number | null; validAccuracy: number | null }[]).map((e) => ({
        epoch: e.epoch,
        trainLoss: e.trainLoss,
        validLoss: e.validLoss ?? undefined,
        validAccuracy: e.validAccuracy ?? undefined,
      })),
    }));
  return curves.length ? curves : undefined;
}

/**
 * The run folder: the model bundle (manifest and heads; its source files are already in), split.json, skipped.json, metrics.json,
 * the plots and report.md.
 */
export async function writeRunFolder(outDir: string, { result, data, fitted, heads, interpretation }: RunFolderInput): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  saveBundle(outDir, result.manifest, heads);
  const ids = (rows: number[]) => rows.map((i) => data.images[i].record.id);
  writeFileSync(join(outDir, 'split.json'), JSON.stringify({ info: data.split.info, train: ids(fitted.train), valid: ids(fitted.valid) }, null, 1));
  writeFileSync(join(outDir, 'skipped.json'), JSON.stringify(result.skipped, null, 2));
  const { evaluation, evaluationPlain, members, extraTargets, rows, weights, timings } = result;
  writeFileSync(join(outDir, 'metrics.json'), JSON.stringify({ valid: evaluation, validPlain: evaluationPlain, members, extraTargets, rows, weights, timings }, null, 2));
  const plots = await writeRunPlots(outDir, {
    labels: data.labels,
    confusion: evaluation.confusion,
    members: rows.map((r) => ({ member: r.member, errorRate: r.errorRate, errorRateTta: r.errorRateTta })),
    curves: curvesOf(members),
    titles: { confusion: `Validation confusion matrix (${members.length > 1 ? 'ensemble, ' : ''}TTA)` },
  });
  writeFileSync(join(outDir, INTERPRETATION_JSON), JSON.stringify(interpretation.interpretation, null, 2));
  if (interpretation.grid) writeFileSync(join(outDir, TOP_LOSSES_PNG), interpretation.grid);
  const pages = await writeSourcePages(outDir, fitted, data);
  await writeTrainingReport(outDir, {
    result,
    data,
    skipped: result.skipped,
    plots: plots.map((p) => basename(p)),
    interpretation: { ...interpretation.interpretation, grid: interpretation.grid ? TOP_LOSSES_PNG : undefined },
    pages,
  });
}
