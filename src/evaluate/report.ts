import type { Evaluation } from './metrics.js';
import { fixed, formatMarkdownTable, formatTable, pct } from './table.js';

function perClassRows(e: Evaluation): string[][] {
  return e.perClass.map((c) => [c.label, fixed(c.precision, 3), fixed(c.recall, 3), fixed(c.f1, 3), String(c.support)]);
}
const PER_CLASS_HEADERS = ['class', 'precision', 'recall', 'f1', 'support'];
const PER_CLASS_ALIGN = ['left', 'right', 'right', 'right', 'right'] as const;

function confusionRows(e: Evaluation): string[][] {
  return e.confusion.map((row, i) => [e.labels[i], ...row.map(String)]);
}

/** Short abbreviations for confusion-matrix column headers. */
function abbreviations(labels: string[]): string[] {
  return labels.map((_, i) => `p${i}`);
}

export function formatEvaluationText(e: Evaluation, title = 'Evaluation'): string {
  const confusionHeaders = ['true \\ predicted', ...abbreviations(e.labels)];
  return [
    `${title}: ${e.n} images`,
    `  accuracy ${pct(e.accuracy)}   error rate ${pct(e.errorRate)}   log loss ${fixed(e.logLoss)}   macro F1 ${fixed(e.macroF1, 3)}`,
    '',
    formatTable(PER_CLASS_HEADERS, perClassRows(e), [...PER_CLASS_ALIGN]),
    '',
    'Confusion matrix (rows: true class; columns: predicted, p<i> = class i in the order above)',
    formatTable(confusionHeaders, confusionRows(e), ['left', ...e.labels.map(() => 'right' as const)]),
  ].join('\n');
}

export function formatEvaluationMarkdown(e: Evaluation, title = 'Evaluation'): string {
  return [
    `## ${title}`,
    '',
    `${e.n} images · accuracy **${pct(e.accuracy)}** · error rate **${pct(e.errorRate)}** · log loss ${fixed(e.logLoss)} · macro F1 ${fixed(e.macroF1, 3)}`,
    '',
    formatMarkdownTable(PER_CLASS_HEADERS, perClassRows(e), [...PER_CLASS_ALIGN]),
    '',
    '### Confusion matrix (rows: true, columns: predicted)',
    '',
    formatMarkdownTable(['', ...e.labels], confusionRows(e), ['left', ...e.labels.map(() => 'right' as const)]),
  ].join('\n');
}
