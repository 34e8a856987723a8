import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SkippedImage } from '../dataset/scan.js';
import { formatEvaluationMarkdown } from '../evaluate/report.js';
import { formatResultsMarkdown } from '../evaluate/results-table.js';
import { formatMarkdownTable, pct } from '../evaluate/table.js';
import type { Interpretation } from '../explain/top-losses.js';
import type { ReportPage } from '../sources/source-kind.js';
import type { PreparedData } from './prepare-data.js';
import type { TrainResult } from './train.js';

export interface TrainingReportInput {
  result: TrainResult;
  data: PreparedData;
  skipped: SkippedImage[];
  /** Plot files written into the run folder (relative names), linked from the report. */
  plots?: string[];
  /** Top losses and most-confused pairs; `grid` names the top-losses PNG. */
  interpretation?: Interpretation & { grid?: string };
  /** Pages of the members' sources (e.g. traces.md), linked from the report. */
  pages?: ReportPage[];
}

function interpretationLines(i: Interpretation & { grid?: string }): string[] {
  const lines = ['## Interpretation', ''];
  if (i.grid) {
    const how = i.heatmapMembers.length
      ? `heatmaps: Grad-CAM of the predicted class from ${i.heatmapMembers.join(', ')}${i.heatmapLeftOut.length ? ` (left out, weights renormalised: ${i.heatmapLeftOut.map((l) => `${l.name}: ${l.reason}`).join('; ')})` : ''}`
      : `no heatmaps (${i.heatmapLeftOut.map((l) => `${l.name}: ${l.reason}`).join('; ')})`;
    lines.push(`The ${i.topLosses.length} validation images with the highest loss (predicted / actual, probability of the prediction, loss −ln p(actual)); ${how}.`, '', `![top losses](${i.grid})`, '');
  }
  lines.push('Most confused pairs (validation, ensemble with TTA):', '');
  if (i.mostConfused.length) lines.push(formatMarkdownTable(['actual', 'predicted as', 'images'], i.mostConfused.map((p) => [p.actual, p.predicted, String(p.count)]), ['left', 'left', 'right']));
  else lines.push('none: every validation image was classified correctly.');
  lines.push('', 'Both are in `interpretation.json`.', '');
  return lines;
}

/** The run folder's report.md: data, split, members table, validation metrics, plots, skipped files. */
export async function writeTrainingReport(outDir: string, { result, data, skipped, plots = [], interpretation, pages = [] }: TrainingReportInput): Promise<void> {
  const { manifest, timings } = result;
  const info = data.split.info;
  const lines = [
    `# lensemble training report`,
    '',
    `Created ${manifest.createdAt} with lensemble ${manifest.lensembleVersion}.`,
    '',
    '## Data',
    '',
    `${data.summary.images} readable images in ${data.labels.length} classes from \`${data.dataset.root}\` (${data.dataset.format} layout); ${skipped.length} skipped.`,
    '',
    formatMarkdownTable(['class', 'images'], data.summary.classes.map((c) => [c.label, String(c.count)]), ['left', 'right']),
    '',
    '## Split',
    '',
    info.method === 'explicit-valid'
      ? `Explicit validation set: ${data.split.valid.length} images.${data.leakedValidImages ? ` **${data.leakedValidImages} of them have a near-duplicate in training.**` : ''}`
      : `${data.split.train.length} train / ${data.split.valid.length} valid, stratified, seed ${info.seed}. ` +
        `Near-duplicates (flips, 90° rotations, rescales; dihedral perceptual hash) were grouped: ${info.duplicateGroups} groups holding ${info.itemsInDuplicateGroups} images, ` +
        `${info.groups} groups in all; every group sits wholly on one side of the split.`,
    '',
    '## Members',
    '',
    formatResultsMarkdown(result.rows),
    '',
    `Validation error of the ${manifest.members.length > 1 ? 'ensemble' : 'model'}: **${pct(result.evaluation.errorRate)}** with TTA, ${pct(result.evaluationPlain.errorRate)} without. ` +
      `Total time ${timings.totalSeconds.toFixed(1)} s (reading and grouping images ${timings.scanSeconds.toFixed(1)} s, feature extraction ${timings.extractSeconds.toFixed(1)} s, heads ${timings.fitSeconds.toFixed(1)} s).`,
    '',
  ];
  for (const t of result.extraTargets) {
    lines.push(`Extra target **${t.name}** (${t.labels.length} classes): error rate ${pct(t.evaluation.errorRate)}, with TTA ${pct(t.evaluationTta.errorRate)}.`, '');
  }
  lines.push(formatEvaluationMarkdown(result.evaluation, 'Validation (ensemble, TTA)'), '');
  if (interpretation) lines.push(...interpretationLines(interpretation));
  if (plots.length) lines.push('## Plots', '', ...plots.filter((p) => p.endsWith('.svg')).map((p) => `![${p}](${p})`), '');
  if (pages.length) lines.push('## Members in detail', '', ...pages.map((p) => `- [${p.title}](${p.file})`), '');
  if (skipped.length) lines.push('## Skipped images', '', ...skipped.map((s) => `- \`${s.path}\`: ${s.reason}`), '');
  writeFileSync(join(outDir, 'report.md'), lines.join('\n'));
}
