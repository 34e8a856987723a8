import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import type { ResultRow } from '../src/evaluate/results-table.js';
import { formatResultsMarkdown } from '../src/evaluate/results-table.js';
import { train } from '../src/pipeline/train.js';

export interface EnsembleBenchOptions {
  dataDir?: string;
  members?: string[];
  seed?: number;
  log?: (line: string) => void;
}

export interface EnsembleBenchResult {
  members: string[];
  seconds: number;
  accuracy: number;
  accuracyPlain: number;
  rows: ResultRow[];
}

/** Time to train the three-member ensemble from raw images (empty feature cache), and its validation table. */
export async function runEnsembleBench(options: EnsembleBenchOptions = {}): Promise<EnsembleBenchResult> {
  const log = options.log ?? console.log;
  const members = options.members ?? ['mobilenetv2_100', 'mobilenetv2_100,size=320', 'squeezenet1_1'];
  const cacheDir = mkdtempSync(join(tmpdir(), 'lensemble-ensemble-bench-'));
  const out = join(cacheDir, 'run');
  try {
    const result = await train({ data: options.dataDir ?? '../shared/data/rice-leaf', members: members.map((m) => parseMemberString(m)), out, cacheDir, seed: options.seed ?? 42, progress: false });
    log(formatResultsMarkdown(result.rows));
    log(`ensemble of ${members.length} from raw images: ${result.timings.totalSeconds.toFixed(1)} s, validation accuracy ${result.evaluation.accuracy.toFixed(4)} (TTA), ${result.evaluationPlain.accuracy.toFixed(4)} (plain)`);
    return { members, seconds: result.timings.totalSeconds, accuracy: result.evaluation.accuracy, accuracyPlain: result.evaluationPlain.accuracy, rows: result.rows };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await runEnsembleBench();
