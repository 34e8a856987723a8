/**
 * Near-duplicate grouping at 10k, 100k and 1M dihedral hashes (planted clusters of flipped, turned and
 * re-encoded copies among random images; src/split/synthetic-hashes.ts), side by side in one run:
 *  - multi-index: the exact generalized-pigeonhole index groupNearDuplicates uses (multi-index-plan.ts);
 *  - LSH: the contender, bit-sampling locality-sensitive hashing on the same join kernel, its tables
 *    sized for 99% recall of pairs at the full radius (the hardest) and verified (no false merges);
 *  - all pairs: the reference (what groupNearDuplicates did before), measured at the smallest size and
 *    extrapolated (n²) beyond;
 *  - a BK-tree (metric tree) over the 8n variant codes, at the smallest size: how much of the tree a
 *    query at the radius visits.
 * Recall: at the smallest size both are compared with the all-pairs groups; at every size the
 * multi-index groups are checked against a brute-force scan of every pair touching sampled items, and
 * the LSH groups against the (exact) multi-index groups.
 *
 *   npx tsx bench/grouping-bench.ts [--sizes=10000,100000,1000000] [--radius=10] [--samples=300]
 */
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { identityCodes, variantCodes } from '../src/split/hamming-codes.js';
import { joinWithinRadius } from '../src/split/hamming-join.js';
import { bitFrequencies, blockCost, type IndexBlock, type MultiIndexPlan, planMultiIndex } from '../src/split/multi-index-plan.js';
import { groupNearDuplicates, groupNearDuplicatesAllPairs } from '../src/split/near-duplicates.js';
import type { DihedralHash } from '../src/split/phash.js';
import { plantNearDuplicates } from '../src/split/synthetic-hashes.js';
import { createUnionFind } from '../src/split/union-find.js';
import { createRng, shuffleInPlace } from '../src/util/rng.js';

export interface GroupingBenchOptions {
  sizes?: number[];
  radius?: number;
  /** All pairs are run (and compared with) up to this many hashes. */
  allPairsUpTo?: number;
  /** Items whose every pair is scanned by brute force to check the multi-index groups. */
  samples?: number;
  /** LSH tables are sized for this recall of pairs at the full radius. */
  lshRecall?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface Timing {
  /** Median over the rounds. */
  seconds: number;
  cpuSeconds: number;
  rounds: number;
}

export interface GroupingBenchRow {
  hashes: number;
  plantedClusters: number;
  duplicateGroups: number;
  /** Share of the random (unplanted) images that the exact groups put with some other image: chance near-duplicates. */
  randomImagesGrouped: number;
  multiIndex: Timing & { plan: string; expectedCandidates: number; peakRssMb: number; rssBeforeMb: number };
  lsh: Timing & { plan: string; groupsMissed: number; duplicateGroupsReproduced: number };
  allPairs: { seconds: number; cpuSeconds: number; measured: boolean };
  /** BK-tree over the variant codes (smallest size only): share of the tree one query visits, and the time for all n queries extrapolated from a sample. */
  bkTree?: { visitedShare: number; seconds: number };
  /** Multi-index groups equal to the all-pairs groups (where all pairs ran). */
  multiIndexEqualsAllPairs?: boolean;
  /** Pairs within the radius found by brute force around sampled items, and how many of them the multi-index groups keep together. */
  sampledPairs: number;
  sampledPairsTogether: number;
}

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);

function timed<T>(run: () => T): { value: T; seconds: number; cpuSeconds: number } {
  const c = cpuSeconds();
  const t = performance.now();
  const value = run();
  return { value, seconds: (performance.now() - t) / 1000, cpuSeconds: cpuSeconds() - c };
}

/** P(a table of k bits sampled from `pool` keys a pair that differs in d of those bits within `threshold` of each other). */
function tableHitProbability(k: number, threshold: number, d: number, pool: number): number {
  const choose = (n: number, r: number): number => {
    if (r < 0 || r > n) return 0;
    let c = 1;
    for (let i = 0; i < r; i++) c = (c * (n - i)) / (i + 1);
    return c;
  };
  let p = 0;
  for (let x = 0; x <= threshold; x++) p += (choose(d, x) * choose(pool - d, k - x)) / choose(pool, k);
  return p;
}

/**
 * The cheapest bit-sampling LSH under the multi-index cost model that catches a pair at the full
 * radius with probability ≥ `recall`: L tables of k bits drawn (seeded) from the balanced bits, each
 * probed at key distance ≤ threshold (0 = classic LSH, 1 = multi-probe).
 */
export function planLsh(left: number, right: number, radius: number, bitFrequency: Float64Array, recall: number, seed: number): MultiIndexPlan {
  const pool = Array.from({ length: 64 }, (_, b) => b).filter((b) => bitFrequency[b] > 0.02 && bitFrequency[b] < 0.98);
  let best = { seconds: Infinity, k: 0, threshold: 0, tables: 0 };
  for (let k = 8; k <= Math.min(24, pool.length); k++) {
    for (const threshold of [0, 1, 2]) {
      const p = tableHitProbability(k, threshold, radius, pool.length);
      const tables = Math.ceil(Math.log(1 - recall) / Math.log(1 - p));
      const seconds = tables * blockCost(k, threshold, left, right).seconds;
      if (seconds < best.seconds) best = { seconds, k, threshold, tables };
    }
  }
  const rng = createRng(seed);
  const blocks: IndexBlock[] = Array.from({ length: best.tables }, () => ({
    bits: (shuffleInPlace([...pool], rng) as number[]).slice(0, best.k).sort((a, b) => a - b),
    threshold: best.threshold,
  }));
  return { blocks, expectedCandidates: best.tables * blockCost(best.k, best.threshold, left, right).candidates, expectedSeconds: best.seconds };
}

function groupByPlan(hashes: DihedralHash[], radius: number, plan: MultiIndexPlan): Int32Array {
  const uf = createUnionFind(hashes.length);
  joinWithinRadius(identityCodes(hashes), variantCodes(hashes), radius, plan, (i, j) => uf.union(i, j), { ownersAscending: true });
  return Int32Array.from(hashes, (_, i) => uf.find(i));
}

function describePlan(plan: MultiIndexPlan): string {
  const shapes = new Map<string, number>();
  for (const b of plan.blocks) shapes.set(`${b.bits.length} bits ≤${b.threshold}`, (shapes.get(`${b.bits.length} bits ≤${b.threshold}`) ?? 0) + 1);
  return [...shapes].map(([shape, count]) => `${count}×(${shape})`).join(' + ');
}

const groupCount = (groupOf: Int32Array): number => groupOf.reduce((count, g, i) => count + (g === i ? 1 : 0), 0);

/** Exact groups of size > 1 that `candidate` has exactly (same members). */
function reproducedGroups(exact: Int32Array, candidate: Int32Array): { total: number; reproduced: number } {
  const n = exact.length;
  const exactSize = new Int32Array(n);
  const candidateSize = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    exactSize[exact[i]]++;
    candidateSize[candidate[i]]++;
  }
  const broken = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (candidate[i] !== candidate[exact[i]] || candidateSize[candidate[i]] !== exactSize[exact[i]]) broken[exact[i]] = 1;
  let total = 0;
  let reproduced = 0;
  for (let g = 0; g < n; g++) {
    if (exactSize[g] < 2) continue;
    total++;
    if (!broken[g]) reproduced++;
  }
  return { total, reproduced };
}

const popcount = (v: number): number => {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};

/**
 * A BK-tree (Burkhard–Keller) over every variant code, plain Hamming distance (a metric; the dihedral
 * distance, a minimum over variants, is not), queried with `queries` sampled identity codes at `radius`:
 * a child at edge distance e is entered only when |e − d(query, node)| ≤ radius.
 */
function bkTreeProbe(hashes: DihedralHash[], radius: number, queries: number, seed: number): { visitedShare: number; seconds: number } {
  const { words } = variantCodes(hashes);
  const m = words.length / 2;
  const distance = (a: Uint32Array, i: number, lo: number, hi: number): number => popcount(lo ^ a[2 * i]) + popcount(hi ^ a[2 * i + 1]);
  const child = new Int32Array(m * 65).fill(-1);
  for (let i = 1; i < m; i++) {
    for (let node = 0; ; ) {
      const slot = node * 65 + distance(words, node, words[2 * i], words[2 * i + 1]);
      if (child[slot] < 0) {
        child[slot] = i;
        break;
      }
      node = child[slot];
    }
  }
  const rng = createRng(seed);
  const stack = new Int32Array(m);
  let visited = 0;
  const t = performance.now();
  for (let q = 0; q < queries; q++) {
    const item = rng.int(hashes.length);
    const lo = hashes[item][0];
    const hi = hashes[item][1];
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const node = stack[--top];
      visited++;
      const d = distance(words, node, lo, hi);
      for (let e = Math.max(0, d - radius); e <= Math.min(64, d + radius); e++) if (child[node * 65 + e] >= 0) stack[top++] = child[node * 65 + e];
    }
  }
  const perQuery = (performance.now() - t) / 1000 / queries;
  return { visitedShare: visited / queries / m, seconds: perQuery * hashes.length };
}

/** Every pair within the radius that touches a sampled item (i < j: dihedralDistance(hᵢ, hⱼ) ≤ radius), by brute force. */
function sampledPairs(hashes: DihedralHash[], radius: number, samples: number, seed: number): [number, number][] {
  const n = hashes.length;
  const words = new Uint32Array(16 * n);
  hashes.forEach((h, i) => words.set(h, 16 * i));
  /** dihedralDistance(hashes[a], hashes[b]) ≤ radius. */
  const near = (a: number, b: number): boolean => {
    const lo = words[16 * a];
    const hi = words[16 * a + 1];
    for (let k = 0; k < 8; k++) if (popcount(lo ^ words[16 * b + 2 * k]) + popcount(hi ^ words[16 * b + 2 * k + 1]) <= radius) return true;
    return false;
  };
  const rng = createRng(seed);
  const pairs: [number, number][] = [];
  for (let s = 0; s < Math.min(samples, n); s++) {
    const q = rng.int(n);
    for (let j = 0; j < n; j++) {
      if (j < q && near(j, q)) pairs.push([j, q]);
      else if (j > q && near(q, j)) pairs.push([q, j]);
    }
  }
  return pairs;
}

export async function runGroupingBench(options: GroupingBenchOptions = {}): Promise<GroupingBenchRow[]> {
  const { sizes = [10_000, 100_000, 1_000_000], radius = 10, allPairsUpTo = 10_000, samples = 300, lshRecall = 0.99, seed = 1, log = () => {} } = options;
  log(`${cpus().length} cores (${cpus()[0]?.model}), Node ${process.version}; radius ${radius} bits; planted: 20% of hashes in clusters of 2–12 copies`);
  const rows: GroupingBenchRow[] = [];
  let allPairsPerPair: { seconds: number; cpuSeconds: number } | undefined;
  for (const n of sizes) {
    const made = timed(() => plantNearDuplicates(n, { seed }));
    const { hashes, clusters, clusterOf } = made.value;
    log(`\n${n.toLocaleString('en')} hashes (${clusters.toLocaleString('en')} planted clusters; made in ${made.seconds.toFixed(1)} s)`);
    const identities = identityCodes(hashes);
    const frequencies = bitFrequencies(identities.words);
    const miPlan = planMultiIndex(n, 8 * n, radius, frequencies, 0);
    const lshPlan = planLsh(n, 8 * n, radius, frequencies, lshRecall, seed);

    const rounds = n <= 10_000 ? 5 : n <= 100_000 ? 3 : 1;
    const rssBefore = process.memoryUsage.rss();
    const mi: { seconds: number; cpuSeconds: number }[] = [];
    const lsh: { seconds: number; cpuSeconds: number }[] = [];
    let exactGroups: Int32Array | undefined;
    let lshGroups: Int32Array | undefined;
    let peakRss = 0;
    for (let r = 0; r < rounds; r++) {
      const a = timed(() => groupNearDuplicates(hashes, radius, undefined, { method: 'multi-index' }).groupOf);
      if (r === 0) peakRss = process.resourceUsage().maxRSS * 1024;
      exactGroups = a.value;
      mi.push(a);
      const b = timed(() => groupByPlan(hashes, radius, lshPlan));
      lshGroups = b.value;
      lsh.push(b);
    }
    const summary = (t: { seconds: number; cpuSeconds: number }[]): Timing => ({ seconds: median(t.map((x) => x.seconds)), cpuSeconds: median(t.map((x) => x.cpuSeconds)), rounds });
    const exact = exactGroups!;
    const duplicateGroups = reproducedGroups(exact, exact).total;
    const groupSize = new Int32Array(n);
    for (const g of exact) groupSize[g]++;
    let random = 0;
    let randomGrouped = 0;
    clusterOf.forEach((c, i) => {
      if (c >= 0) return;
      random++;
      if (groupSize[exact[i]] > 1) randomGrouped++;
    });
    const randomImagesGrouped = randomGrouped / random;
    log(`  multi-index ${describePlan(miPlan)}: ${summary(mi).seconds.toFixed(2)} s (CPU ${summary(mi).cpuSeconds.toFixed(2)} s, median of ${rounds}); peak RSS ${mb(peakRss)} MB (${mb(rssBefore)} MB before)`);
    log(`  ${duplicateGroups.toLocaleString('en')} duplicate groups; ${(100 * randomImagesGrouped).toFixed(2)}% of the random images grouped with another by chance`);

    const missed = groupCount(lshGroups!) - groupCount(exact);
    const { reproduced } = reproducedGroups(exact, lshGroups!);
    log(`  LSH ${describePlan(lshPlan)}: ${summary(lsh).seconds.toFixed(2)} s (CPU ${summary(lsh).cpuSeconds.toFixed(2)} s); ${missed} merges missed, ${((100 * reproduced) / duplicateGroups).toFixed(2)}% of the exact duplicate groups reproduced`);

    let allPairs: GroupingBenchRow['allPairs'];
    let multiIndexEqualsAllPairs: boolean | undefined;
    let bkTree: GroupingBenchRow['bkTree'];
    if (n <= allPairsUpTo) {
      bkTree = bkTreeProbe(hashes, radius, 500, seed + 2);
      log(`  BK-tree over the ${(8 * n).toLocaleString('en')} variant codes: a query visits ${(100 * bkTree.visitedShare).toFixed(0)}% of the tree; ~${bkTree.seconds.toFixed(1)} s for all ${n.toLocaleString('en')} queries`);
      const ref = timed(() => groupNearDuplicatesAllPairs(hashes, radius).groupOf);
      const pairs = (n * (n - 1)) / 2;
      allPairsPerPair = { seconds: ref.seconds / pairs, cpuSeconds: ref.cpuSeconds / pairs };
      allPairs = { seconds: ref.seconds, cpuSeconds: ref.cpuSeconds, measured: true };
      multiIndexEqualsAllPairs = ref.value.every((g, i) => g === exact[i]);
      log(`  all pairs: ${ref.seconds.toFixed(2)} s (CPU ${ref.cpuSeconds.toFixed(2)} s); multi-index groups ${multiIndexEqualsAllPairs ? 'equal' : 'DIFFER FROM'} the all-pairs groups`);
    } else {
      const pairs = (n * (n - 1)) / 2;
      allPairs = { seconds: (allPairsPerPair?.seconds ?? NaN) * pairs, cpuSeconds: (allPairsPerPair?.cpuSeconds ?? NaN) * pairs, measured: false };
      log(`  all pairs: ~${allPairs.seconds.toFixed(0)} s (CPU ~${allPairs.cpuSeconds.toFixed(0)} s; extrapolated as n² from the smallest size)`);
    }
    const checkSamples = n <= allPairsUpTo ? 0 : samples;
    const pairs = sampledPairs(hashes, radius, checkSamples, seed + 1);
    const together = pairs.filter(([i, j]) => exact[i] === exact[j]).length;
    if (checkSamples) log(`  brute force around ${checkSamples} sampled items: ${pairs.length} pairs within ${radius} bits, ${together} of them grouped together by the multi-index`);
    rows.push({
      hashes: n,
      plantedClusters: clusters,
      duplicateGroups,
      randomImagesGrouped,
      multiIndex: { ...summary(mi), plan: describePlan(miPlan), expectedCandidates: miPlan.expectedCandidates, peakRssMb: mb(peakRss), rssBeforeMb: mb(rssBefore) },
      lsh: { ...summary(lsh), plan: describePlan(lshPlan), groupsMissed: missed, duplicateGroupsReproduced: reproduced / duplicateGroups },
      allPairs,
      ...(bkTree ? { bkTree } : {}),
      ...(multiIndexEqualsAllPairs === undefined ? {} : { multiIndexEqualsAllPairs }),
      sampledPairs: pairs.length,
      sampledPairsTogether: together,
    });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  await runGroupingBench({
    sizes: arg('sizes')?.split(',').map(Number),
    radius: arg('radius') === undefined ? undefined : Number(arg('radius')),
    samples: arg('samples') === undefined ? undefined : Number(arg('samples')),
    log: (line) => console.log(line),
  });
}
