import type { ReportPage } from '../sources/source-kind.js';
import type { FittedMembers } from './fit-members.js';
import type { PreparedData } from './prepare-data.js';

/**
 * The pages member sources add to the run report, on the rows their heads were trained on. Files are named after
 * the source kind (`traces.md`), or kind and member for a second member of a kind (`traces-<member>.md`).
 */
export async function writeSourcePages(outDir: string, fitted: FittedMembers, data: PreparedData): Promise<ReportPage[]> {
  const labelIndex = new Map(data.labels.map((l, i) => [l, i]));
  const training = {
    hashes: fitted.train.map((i) => fitted.hashes[i]),
    y: Int32Array.from(fitted.train, (i) => labelIndex.get(data.images[i].record.label!)!),
    labels: data.labels,
  };
  const pages: ReportPage[] = [];
  const seenKinds = new Set<string>();
  for (const m of fitted.members) {
    if (!m.trained.writeReportPages) continue;
    const kind = m.spec.source.kind;
    const base = seenKinds.has(kind) ? `${kind}-${m.name}` : kind;
    seenKinds.add(kind);
    pages.push(...(await m.trained.writeReportPages(outDir, base, { memberName: m.name, head: m.main.head, training: { ...training, features: m.trained.features.plain } })));
  }
  return pages;
}
