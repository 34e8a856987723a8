export type Align = 'left' | 'right';

/** A plain-text table with a header rule, for terminals. */
export function formatTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (text: string, i: number): string => (align[i] === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (cells: string[]): string => cells.map(cell).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A GitHub-flavoured markdown table. */
export function formatMarkdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const rule = headers.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  return [headers, rule, ...rows].map((r) => `| ${r.map(escape).join(' | ')} |`).join('\n');
}

export const pct = (v: number, digits = 2): string => `${(100 * v).toFixed(digits)}%`;
export const fixed = (v: number, digits = 4): string => v.toFixed(digits);
