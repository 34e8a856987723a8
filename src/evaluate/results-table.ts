import { formatBytes } from '../util/memory.js';
import { formatMarkdownTable, formatTable, pct, type Align } from './table.js';

/** One row of the members table (the report's own: one row per member plus the ensemble). */
export interface ResultRow {
  member: string;
  arch: string;
  head: string;
  imageSize: string;
  resize: string;
  views: number;
  /** Best epoch / maximum epochs of the head (early stopping), or '-' for non-iterative heads. */
  epochs: string;
  /** Share of the ensemble's average (1 for a single model and for the ensemble row). */
  weight: number;
  errorRate: number;
  errorRateTta?: number;
  extractSeconds: number;
  fitSeconds: number;
  peakMemoryBytes: number;
}

const HEADERS = ['Arch', 'Image size', 'Resize', 'Head', 'Views', 'Epochs', 'Weight', 'Error rate', 'Error (TTA)', 'Train time (extract + head)', 'Peak memory'];
const ALIGN: Align[] = ['left', 'right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'];

function cells(r: ResultRow): string[] {
  return [
    r.arch,
    r.imageSize,
    r.resize,
    r.head,
    String(r.views),
    r.epochs,
    r.weight.toFixed(3),
    pct(r.errorRate),
    r.errorRateTta === undefined ? '-' : pct(r.errorRateTta),
    `${r.extractSeconds.toFixed(1)} s + ${r.fitSeconds.toFixed(1)} s`,
    formatBytes(r.peakMemoryBytes),
  ];
}

export function formatResultsText(rows: ResultRow[]): string {
  return formatTable(HEADERS, rows.map(cells), ALIGN);
}

export function formatResultsMarkdown(rows: ResultRow[]): string {
  return formatMarkdownTable(HEADERS, rows.map(cells), ALIGN);
}
