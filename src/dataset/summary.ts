import { formatTable } from '../evaluate/table.js';
import type { ScanResult } from './scan.js';

export interface DatasetSummary {
  images: number;
  skipped: number;
  classes: { label: string; count: number }[];
  formats: Record<string, number>;
  sizes: { minWidth: number; maxWidth: number; minHeight: number; maxHeight: number; mostCommon: string; distinct: number };
}

export function summarizeScan(scan: ScanResult): DatasetSummary {
  const counts = new Map<string, number>();
  const formats: Record<string, number> = {};
  const sizeCounts = new Map<string, number>();
  let minWidth = Infinity;
  let maxWidth = 0;
  let minHeight = Infinity;
  let maxHeight = 0;
  for (const { record, facts } of scan.ok) {
    const label = record.label ?? '(unlabelled)';
    counts.set(label, (counts.get(label) ?? 0) + 1);
    formats[facts.format] = (formats[facts.format] ?? 0) + 1;
    const size = `${facts.width}×${facts.height}`;
    sizeCounts.set(size, (sizeCounts.get(size) ?? 0) + 1);
    minWidth = Math.min(minWidth, facts.width);
    maxWidth = Math.max(maxWidth, facts.width);
    minHeight = Math.min(minHeight, facts.height);
    maxHeight = Math.max(maxHeight, facts.height);
  }
  const mostCommon = [...sizeCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '-';
  return {
    images: scan.ok.length,
    skipped: scan.skipped.length,
    classes: [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([label, count]) => ({ label, count })),
    formats,
    sizes: { minWidth, maxWidth, minHeight, maxHeight, mostCommon, distinct: sizeCounts.size },
  };
}

export function formatDatasetSummary(s: DatasetSummary, title: string): string {
  const formats = Object.entries(s.formats).map(([f, n]) => `${f} ${n}`).join(', ');
  const sizes =
    s.sizes.distinct === 1
      ? `all ${s.sizes.mostCommon}`
      : `${s.sizes.distinct} distinct, width ${s.sizes.minWidth}–${s.sizes.maxWidth}, height ${s.sizes.minHeight}–${s.sizes.maxHeight}, most common ${s.sizes.mostCommon}`;
  return [
    `${title}: ${s.images} images in ${s.classes.length} classes${s.skipped ? `, ${s.skipped} skipped` : ''}`,
    `  formats: ${formats || '-'}`,
    `  sizes: ${s.images ? sizes : '-'}`,
    formatTable(['class', 'images'], s.classes.map((c) => [c.label, String(c.count)]), ['left', 'right'])
      .split('\n')
      .map((l) => '  ' + l)
      .join('\n'),
  ].join('\n');
}

export function formatSkipped(skipped: { path: string; reason: string }[], limit = 20): string {
  if (skipped.length === 0) return '';
  const lines = skipped.slice(0, limit).map((s) => `  ${s.path}: ${s.reason}`);
  if (skipped.length > limit) lines.push(`  … and ${skipped.length - limit} more (full list in the run folder's skipped.json)`);
  return [`Skipped ${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'}:`, ...lines].join('\n');
}
