import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { LensembleError, errorMessage } from '../util/errors.js';

export type CsvRow = Record<string, string>;

/** Reads a CSV with a header row into objects; clear errors name the file and the problem. */
export async function readCsv(path: string): Promise<{ columns: string[]; rows: CsvRow[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new LensembleError(`cannot read CSV (${errorMessage(err)})`, path);
  }
  let rows: CsvRow[];
  try {
    rows = parse(text, { columns: (header: string[]) => header.map((h) => h.trim()), skip_empty_lines: true, trim: true, bom: true });
  } catch (err) {
    throw new LensembleError(`invalid CSV (${errorMessage(err)})`, path);
  }
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return { columns, rows };
}

/** The first of `candidates` present among `columns` (case-insensitive). */
export function findColumn(columns: string[], candidates: string[]): string | undefined {
  const lower = new Map(columns.map((c) => [c.toLowerCase(), c]));
  for (const c of candidates) {
    const hit = lower.get(c);
    if (hit) return hit;
  }
  return undefined;
}
