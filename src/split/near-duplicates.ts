import { identityCodes, variantCodes } from './hamming-codes.js';
import { joinWithinRadius } from './hamming-join.js';
import { bitFrequencies, planMultiIndex } from './multi-index-plan.js';
import { dihedralDistance, type DihedralHash } from './phash.js';
import { createUnionFind, type UnionFind } from './union-find.js';

export interface DuplicateGroups {
  /** Group id per item (the smallest item index in its group). */
  groupOf: Int32Array;
  /** Number of groups with more than one member. */
  duplicateGroups: number;
  /** Items that share a group with at least one other. */
  itemsInDuplicateGroups: number;
}

export interface GroupingOptions {
  /**
   * 'multi-index' (exact, sub-quadratic: multi-index-plan.ts), 'all-pairs' (the reference: every pair
   * compared), or 'auto' (default): all pairs below ALL_PAIRS_BELOW items, multi-index above. Both give
   * the same groups.
   */
  method?: 'auto' | 'multi-index' | 'all-pairs';
  /** Seeds which bits go into which index block: changes the time taken, never the groups. */
  seed?: number;
}

/** Below this many items comparing all pairs (≤ 125k) is as quick as building an index. */
export const ALL_PAIRS_BELOW = 500;

/**
 * Groups items whose dihedral perceptual hashes are within `maxDistance` bits (transitively), plus any
 * items that share a key in `sameKey` (e.g. identical content hashes or an explicit group column).
 * Items i < j are near-duplicates when dihedralDistance(hashes[i], hashes[j]) ≤ maxDistance (the
 * distance from i's hash to the nearest flip or turn of j's; a negative maxDistance turns this off).
 */
export function groupNearDuplicates(hashes: DihedralHash[], maxDistance: number, sameKey?: string[], options: GroupingOptions = {}): DuplicateGroups {
  const n = hashes.length;
  const uf = createUnionFind(n);
  if (sameKey) unionSameKeys(uf, sameKey);
  if (maxDistance >= 0) {
    const method = options.method === 'auto' || options.method === undefined ? (n < ALL_PAIRS_BELOW ? 'all-pairs' : 'multi-index') : options.method;
    if (method === 'all-pairs') unionAllPairs(uf, hashes, maxDistance);
    else unionByMultiIndex(uf, hashes, Math.min(Math.floor(maxDistance), 64), options.seed ?? 0);
  }
  return summarizeGroups(uf, n);
}

/** The reference: compares every pair, as groupNearDuplicates did before it had an index. */
export function groupNearDuplicatesAllPairs(hashes: DihedralHash[], maxDistance: number, sameKey?: string[]): DuplicateGroups {
  return groupNearDuplicates(hashes, maxDistance, sameKey, { method: 'all-pairs' });
}

function unionSameKeys(uf: UnionFind, sameKey: string[]): void {
  const first = new Map<string, number>();
  sameKey.forEach((key, i) => {
    const f = first.get(key);
    if (f === undefined) first.set(key, i);
    else uf.union(f, i);
  });
}

function unionAllPairs(uf: UnionFind, hashes: DihedralHash[], maxDistance: number): void {
  const n = hashes.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dihedralDistance(hashes[i], hashes[j]) <= maxDistance) uf.union(i, j);
    }
  }
}

/** i's identity hash against every variant of j, for i < j: exactly the all-pairs edges. */
function unionByMultiIndex(uf: UnionFind, hashes: DihedralHash[], radius: number, seed: number): void {
  const left = identityCodes(hashes);
  const right = variantCodes(hashes);
  const plan = planMultiIndex(left.owner.length, right.owner.length, radius, bitFrequencies(left.words), seed);
  joinWithinRadius(left, right, radius, plan, (i, j) => uf.union(i, j), { ownersAscending: true });
}

function summarizeGroups(uf: UnionFind, n: number): DuplicateGroups {
  const groupOf = new Int32Array(n);
  const sizes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    groupOf[i] = uf.find(i);
    sizes[groupOf[i]]++;
  }
  let duplicateGroups = 0;
  let itemsInDuplicateGroups = 0;
  for (const size of sizes) {
    if (size > 1) {
      duplicateGroups++;
      itemsInDuplicateGroups += size;
    }
  }
  return { groupOf, duplicateGroups, itemsInDuplicateGroups };
}
