import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { train } from '../src/pipeline/train.js';
import { defaultCacheDir } from '../src/util/paths.js';

export interface RiceAccuracyRow {
  member: string;
  seed: number;
  plain: number;
  tta: number;
}

/**
 * Validation accuracy of single MobileNetV2@224 members on rice-leaf over several split seeds (near-duplicates
 * grouped): linear vs MLP head, 0/4/8 augmented views, plain vs fastai TTA. Features come from the cache after
 * the first run, so this measures heads, not extraction.
 */
export async function runRiceAccuracy(options: { seeds?: number[]; members?: string[]; log?: (l: string) => void } = {}): Promise<RiceAccuracyRow[]> {
  const log = options.log ?? console.log;
  const seeds = options.seeds ?? [42, 1, 2, 3, 4];
  const members = options.members ?? [
    'mobilenetv2_100,head=linear,views=0,tta=none',
    'mobilenetv2_100,head=linear,views=4',
    'mobilenetv2_100,head=linear,views=8',
    'mobilenetv2_100,head=mlp,views=0,tta=none',
    'mobilenetv2_100,head=mlp,views=4',
    'mobilenetv2_100,head=mlp,views=8',
  ];
  const out = mkdtempSync(join(tmpdir(), 'lensemble-rice-accuracy-'));
  const rows: RiceAccuracyRow[] = [];
  log(`| member | ${seeds.map((s) => `seed ${s}`).join(' | ')} | mean |`);
  log(`|---|${seeds.map(() => '---:').join('|')}|---:|`);
  for (const member of members) {
    const cells: string[] = [];
    const accs: number[] = [];
    for (const seed of seeds) {
      const result = await train({ data: '../shared/data/rice-leaf', members: [parseMemberString(member)], out: join(out, 'run'), force: true, cacheDir: defaultCacheDir(), seed, progress: false });
      const tta = result.evaluation.accuracy;
      const plain = result.evaluationPlain.accuracy;
      rows.push({ member, seed, plain, tta });
      accs.push(tta);
      cells.push(member.includes('tta=none') ? tta.toFixed(3) : `${tta.toFixed(3)} (plain ${plain.toFixed(3)})`);
    }
    log(`| ${member} | ${cells.join(' | ')} | ${(accs.reduce((a, b) => a + b, 0) / accs.length).toFixed(3)} |`);
  }
  return rows;
}

// npx tsx bench/rice-accuracy.ts [--members "<member>;<member>"] [--seeds 42,1,2]
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const members = arg('--members')?.split(';').filter(Boolean);
  const seeds = arg('--seeds')?.split(',').map(Number);
  await runRiceAccuracy({ members, seeds });
}
