/**
 * Which EM trace features to use by default: validation accuracy (group-aware split, seed 42) and
 * 5-fold group cross-validation accuracy of every classifier, for each feature set — single N,
 * several N concatenated, with and without each channel's σ and iteration count — beside what
 * its EM costs per image.
 *
 *   npx tsx bench/forensics-accuracy.ts [--sets 3,5,3+5] [--data DIR] [--cache-dir DIR]
 *
 * EM runs once per N into a fresh cache (unless --cache-dir is given), so each N's time is
 * measured; a concatenated set costs the sum of its N's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMemberSpec, type MemberSpec } from '../src/ensemble/member-spec.js';
import { pct } from '../src/evaluate/table.js';
import { train } from '../src/pipeline/train.js';

export interface FeatureSet {
  kernelSizes: number[];
  /** σ and the iteration count of each channel appended. */
  extras: boolean;
}

export interface ForensicsAccuracyRow {
  features: string;
  kernelSizes: number[];
  extras: boolean;
  dims: number;
  classifier: string;
  validAccuracy: number;
  cvMean: number;
  cvStd: number;
  /** EM seconds for all images on all cores (sum over the set's N). */
  traceSeconds: number;
}

const CLASSIFIERS = ['random-forest', 'svm', 'knn', 'lda'] as const;

export const defaultFeatureSets: FeatureSet[] = [
  { kernelSizes: [3], extras: false },
  { kernelSizes: [3], extras: true },
  { kernelSizes: [5], extras: false },
  { kernelSizes: [5], extras: true },
  { kernelSizes: [3, 5], extras: false },
  { kernelSizes: [3, 5], extras: true },
];

const setName = (s: FeatureSet) => `N=${s.kernelSizes.join('+')}${s.extras ? ' + σ, iterations' : ''}`;

function members(set: FeatureSet): MemberSpec[] {
  return CLASSIFIERS.map((head) =>
    parseMemberSpec({
      backbone: 'traces',
      head,
      views: 0,
      tta: 'none',
      kernelSizes: set.kernelSizes,
      appendSigma: set.extras,
      appendIterations: set.extras,
    }),
  );
}

export async function runForensicsAccuracy(
  options: { sets?: FeatureSet[]; dataDir?: string; cacheDir?: string; log?: (l: string) => void } = {},
): Promise<ForensicsAccuracyRow[]> {
  const log = options.log ?? console.log;
  const sets = options.sets ?? defaultFeatureSets;
  const data = options.dataDir ?? '../shared/data/fake-faces';
  const out = mkdtempSync(join(tmpdir(), 'lensemble-forensics-bench-'));
  const cacheDir = options.cacheDir ?? join(out, 'cache');
  const rows: ForensicsAccuracyRow[] = [];

  // EM once per N, alone, so its time is measured (a fresh cache unless one was given).
  const emSeconds = new Map<number, number>();
  for (const n of [...new Set(sets.flatMap((s) => s.kernelSizes))].sort((a, b) => a - b)) {
    const result = await train({ data, members: [members({ kernelSizes: [n], extras: false })[3]], out: join(out, `em-n${n}`), cacheDir, progress: false });
    emSeconds.set(n, result.rows[0].extractSeconds);
  }

  log('| features | dims | classifier | validation accuracy | 5-fold group CV | EM s (all images, all cores) |');
  log('|---|---:|---|---:|---:|---:|');
  for (const set of sets) {
    const specs = members(set);
    const result = await train({ data, members: specs, out: join(out, setName(set).replace(/\W+/g, '_')), cacheDir, cv: 5, progress: false });
    const traceSeconds = set.kernelSizes.reduce((s, n) => s + emSeconds.get(n)!, 0);
    result.members.forEach((m, k) => {
      const row: ForensicsAccuracyRow = {
        features: setName(set),
        kernelSizes: set.kernelSizes,
        extras: set.extras,
        dims: set.kernelSizes.reduce((d, n) => d + 3 * (n * n - 1 + (set.extras ? 2 : 0)), 0),
        classifier: specs[k].head.kind,
        validAccuracy: m.evaluation.accuracy,
        cvMean: m.crossValidation!.mean,
        cvStd: m.crossValidation!.std,
        traceSeconds,
      };
      rows.push(row);
      log(
        `| ${k === 0 ? row.features : ''} | ${k === 0 ? row.dims : ''} | ${row.classifier} | ${pct(row.validAccuracy, 1)} | ` +
          `${pct(row.cvMean, 1)} ± ${pct(row.cvStd, 1)} | ${k === 0 ? traceSeconds.toFixed(1) : ''} |`,
      );
    });
    log(`| | | ensemble of the four | ${pct(result.evaluation.accuracy, 1)} | | |`);
  }
  log(`EM time per N (all images, all cores): ${[...emSeconds].map(([n, s]) => `N=${n} ${s.toFixed(1)} s`).join(', ')}`);
  return rows;
}

function parseSets(text: string): FeatureSet[] {
  return text.split(',').flatMap((part) => {
    const kernelSizes = part.split('+').map(Number);
    if (!kernelSizes.every((n) => Number.isInteger(n) && n >= 2 && n <= 15)) throw new Error(`forensics-accuracy: bad --sets entry ${part}`);
    return [
      { kernelSizes, extras: false },
      { kernelSizes, extras: true },
    ];
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sets = value('--sets');
  await runForensicsAccuracy({ sets: sets ? parseSets(sets) : undefined, dataDir: value('--data'), cacheDir: value('--cache-dir') });
}
