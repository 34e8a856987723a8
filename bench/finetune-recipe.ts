// Fine-tuning recipes on rice-leaf (seed-42 group split): validation accuracy and time from raw images, one line
// per member string given on the command line, e.g.
//   npx tsx bench/finetune-recipe.ts mobilenetv2_100,finetune=5 mobilenetv2_100,finetune=5,trainable=last:2
// Each run starts from an empty cache unless --cache-dir=<dir> is given (then frozen features, prefix activations
// and finished fine-tunes are reused, and the time is not "from raw images").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { train } from '../src/pipeline/train.js';

export interface RecipeRow {
  member: string;
  accuracy: number;
  accuracyPlain: number;
  seconds: number;
  epochs: unknown;
  peakMemoryBytes: number;
}

export async function runFinetuneRecipes(members: string[], options: { cacheDir?: string; data?: string; log?: (l: string) => void } = {}): Promise<RecipeRow[]> {
  const log = options.log ?? console.log;
  const rows: RecipeRow[] = [];
  for (const member of members) {
    const cacheDir = options.cacheDir ?? mkdtempSync(join(tmpdir(), 'lensemble-ft-recipe-'));
    const out = join(cacheDir, 'run');
    try {
      const result = await train({ data: options.data ?? '../shared/data/rice-leaf', members: [parseMemberString(member)], out, force: true, cacheDir, progress: false, log: (l) => (/epoch|fitted/.test(l) ? log(`  ${l}`) : undefined) });
      const fit = result.members[0].fit as { epochs?: unknown };
      const row = { member, accuracy: result.evaluation.accuracy, accuracyPlain: result.evaluationPlain.accuracy, seconds: result.timings.totalSeconds, epochs: fit.epochs, peakMemoryBytes: result.rows[0].peakMemoryBytes };
      rows.push(row);
      log(`| ${member} | ${row.accuracy.toFixed(4)} | ${row.accuracyPlain.toFixed(4)} | ${row.seconds.toFixed(0)} s | ${(row.peakMemoryBytes / 2 ** 30).toFixed(2)} GB |`);
    } finally {
      if (!options.cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cacheDir = process.argv.find((a) => a.startsWith('--cache-dir='))?.slice('--cache-dir='.length);
  const members = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  console.log('| member | validation accuracy (TTA) | without TTA | time | peak memory |\n|---|---:|---:|---:|---:|');
  await runFinetuneRecipes(members, { cacheDir });
}
