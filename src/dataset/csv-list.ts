import { dirname, isAbsolute, join, relative } from 'node:path';
import { LensembleError } from '../util/errors.js';
import { findColumn, readCsv } from './csv-table.js';
import { classesOf, type Dataset, type ImageRecord } from './types.js';

const PATH_COLUMNS = ['path', 'file', 'filename', 'image', 'image_path', 'fname', 'image_id'];
const LABEL_COLUMNS = ['label', 'class', 'target', 'category'];
const GROUP_COLUMNS = ['group', 'group_id', 'source'];

/**
 * A CSV of `path,label[,group]` (header required; other columns are kept as extras). Relative paths are
 * resolved against the CSV's folder.
 */
export async function readCsvList(csvPath: string, options: { groupColumn?: string } = {}): Promise<Dataset> {
  const { columns, rows } = await readCsv(csvPath);
  const pathColumn = findColumn(columns, PATH_COLUMNS);
  if (!pathColumn) throw new LensembleError(`no path column (expected one of: ${PATH_COLUMNS.join(', ')}); found: ${columns.join(', ')}`, csvPath);
  const labelColumn = findColumn(columns, LABEL_COLUMNS);
  const groupColumn = options.groupColumn ? findColumn(columns, [options.groupColumn.toLowerCase()]) : findColumn(columns, GROUP_COLUMNS);
  if (options.groupColumn && !groupColumn) throw new LensembleError(`group column "${options.groupColumn}" not found; columns: ${columns.join(', ')}`, csvPath);
  const base = dirname(csvPath);
  const records: ImageRecord[] = rows.map((row, i) => {
    const file = row[pathColumn];
    if (!file) throw new LensembleError(`row ${i + 2} has an empty ${pathColumn}`, csvPath);
    const extra: Record<string, string> = {};
    for (const c of columns) if (c !== pathColumn && c !== labelColumn && c !== groupColumn) extra[c] = row[c];
    return {
      id: file,
      path: isAbsolute(file) ? file : join(base, file),
      label: labelColumn ? row[labelColumn] || undefined : undefined,
      group: groupColumn ? row[groupColumn] || undefined : undefined,
      extra,
    };
  });
  const outside = records.filter((r) => relative(base, r.path).startsWith('..') || isAbsolute(relative(base, r.path)));
  const warnings = outside.length
    ? [`${csvPath}: ${outside.length} of ${records.length} image paths lie outside the CSV's folder (e.g. ${outside[0].id}); moving the CSV will break them`]
    : [];
  return { root: base, format: 'csv', records, classes: classesOf(records), extraTargets: [], warnings };
}
