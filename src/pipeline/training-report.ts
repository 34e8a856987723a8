import { writeFileSync } from 'node:fs';
import type { BundleManifest } from '../bundle/manifest.js';
import type { SkippedImage } from '../dataset/scan.js';
import { formatEvaluationMarkdown } from '../evaluate/report.js';
import type { Evaluation } from '../evaluate/metrics.js';
import { formatMarkdownTable } from '../evaluate/table.js';
import type { FitReport } from '../heads/classifier.js';
import { describePreprocess } from '../images/preprocess-spec.js';
import type { PreparedData } from './prepare-data.js';

export interface TrainingReportInput {
  manifest: BundleManifest;
  evaluation: Evaluation;
  data: PreparedData;
  skipped: SkippedImage[];
  timings: { scanSeconds: number; extractSeconds: number; fitSeconds: number; totalSeconds: number };
  fit: FitReport;
}

/** The run folder's report.md: data, split, model, timings, validation metrics, skipped files. */
export function writeTrainingReport(path: string, r: TrainingReportInput): void {
  const member = r.manifest.members[0];
  const info = r.data.split.info;
  const lines = [
    `# lensemble training report`,
    '',
    `Created ${r.manifest.createdAt} with lensemble ${r.manifest.lensembleVersion}.`,
    '',
    '## Data',
    '',
    `${r.data.summary.images} readable images in ${r.data.labels.length} classes from \`${r.data.dataset.root}\` (${r.data.dataset.format} layout); ${r.skipped.length} skipped.`,
    '',
    formatMarkdownTable(['class', 'images'], r.data.summary.classes.map((c) => [c.label, String(c.count)]), ['left', 'right']),
    '',
    '## Split',
    '',
    info.method === 'explicit-valid'
      ? `Explicit validation set: ${r.data.split.valid.length} images.${r.data.leakedValidImages ? ` **${r.data.leakedValidImages} of them have a near-duplicate in training.**` : ''}`
      : `${r.data.split.train.length} train / ${r.data.split.valid.length} valid, stratified, seed ${info.seed}. ` +
        `Near-duplicates (flips, 90° rotations, rescales; dihedral perceptual hash) were grouped: ${info.duplicateGroups} groups holding ${info.itemsInDuplicateGroups} images, ` +
        `${info.groups} groups in all; every group sits wholly on one side of the split.`,
    '',
    '## Model',
    '',
    formatMarkdownTable(
      ['member', 'backbone', 'input', 'head', 'backbone sha256'],
      [[member.name, member.backbone.spec.name, describePreprocess(member.preprocess), member.head.kind, member.backbone.sha256.slice(0, 16) + '…']],
    ),
    '',
    '## Time',
    '',
    formatMarkdownTable(
      ['stage', 'seconds'],
      [
        ['read + hash + group images', r.timings.scanSeconds.toFixed(1)],
        ['feature extraction', r.timings.extractSeconds.toFixed(1)],
        ['head training', r.timings.fitSeconds.toFixed(2)],
        ['total', r.timings.totalSeconds.toFixed(1)],
      ],
      ['left', 'right'],
    ),
    '',
    formatEvaluationMarkdown(r.evaluation, 'Validation'),
    '',
  ];
  if (r.skipped.length) {
    lines.push('## Skipped images', '', ...r.skipped.map((s) => `- \`${s.path}\`: ${s.reason}`), '');
  }
  writeFileSync(path, lines.join('\n'));
}
