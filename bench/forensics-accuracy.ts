import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { pct } from '../src/evaluate/table.js';
import { train } from '../src/pipeline/train.js';
import { defaultCacheDir } from '../src/util/paths.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ForensicsAccuracyRow {
  kernelSize: number;
  classifier: string;
  validAccuracy: number;
  cvMean: number;
  cvStd: number;
  traceSeconds: number;
}

/** Validation and 5-fold group CV accuracy of every classifier on N×N EM traces of the fake-faces set. */
export async function runForensicsAccuracy(options: { sizes?: number[]; dataDir?: string; log?: (l: string) => void } = {}): Promise<ForensicsAccuracyRow[]> {
  const log = options.log ?? console.log;
  const out = mkdtempSync(join(tmpdir(), 'lensemble-forensics-bench-'));
  const rows: ForensicsAccuracyRow[] = [];
  log('| N | classifier | validation accuracy | 5-fold group CV | EM traces (s, all images) |');
  log('|---|---|---:|---:|---:|');
  for (const n of options.sizes ?? [3, 5, 7]) {
    const members = ['random-forest', 'svm', 'knn', 'lda'].map((head) => parseMemberString(`traces,kernelSize=${n},head=${head},views=0,tta=none`));
    const result = await train({ data: options.dataDir ?? '../shared/data/fake-faces', members, out: join(out, `n${n}`), cacheDir: defaultCacheDir(), cv: 5, progress: false });
    result.members.forEach((m, k) => {
      const row = {
        kernelSize: n,
        classifier: members[k].head.kind,
        validAccuracy: m.evaluation.accuracy,
        cvMean: m.crossValidation!.mean,
        cvStd: m.crossValidation!.std,
        traceSeconds: result.rows[0].extractSeconds,
      };
      rows.push(row);
      log(`| ${n} | ${row.classifier} | ${pct(row.validAccuracy, 1)} | ${pct(row.cvMean, 1)} ± ${pct(row.cvStd, 1)} | ${k === 0 ? row.traceSeconds.toFixed(1) : ''} |`);
    });
    log(`| ${n} | ensemble of the four | ${pct(result.evaluation.accuracy, 1)} | | |`);
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await runForensicsAccuracy();
