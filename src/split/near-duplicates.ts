import { dihedralDistance, type DihedralHash } from './phash.js';

/** Union-find over item indices. */
function createUnionFind(n: number) {
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  return { find, union };
}

export interface DuplicateGroups {
  /** Group id per item (the smallest item index in its group). */
  groupOf: Int32Array;
  /** Number of groups with more than one member. */
  duplicateGroups: number;
  /** Items that share a group with at least one other. */
  itemsInDuplicateGroups: number;
}

/**
 * Groups items whose dihedral perceptual hashes are within `maxDistance` bits (transitively), plus any
 * items that share a key in `sameKey` (e.g. identical content hashes or an explicit group column).
 */
export function groupNearDuplicates(hashes: DihedralHash[], maxDistance: number, sameKey?: string[]): DuplicateGroups {
  const n = hashes.length;
  const uf = createUnionFind(n);
  if (sameKey) {
    const first = new Map<string, number>();
    sameKey.forEach((key, i) => {
      const f = first.get(key);
      if (f === undefined) first.set(key, i);
      else uf.union(f, i);
    });
  }
  if (maxDistance >= 0) {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        if (dihedralDistance(hashes[i], hashes[j]) <= maxDistance) uf.union(i, j);
      }
    }
  }
  const groupOf = new Int32Array(n);
  const sizes = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    groupOf[i] = uf.find(i);
    sizes.set(groupOf[i], (sizes.get(groupOf[i]) ?? 0) + 1);
  }
  let duplicateGroups = 0;
  let itemsInDuplicateGroups = 0;
  for (const size of sizes.values()) {
    if (size > 1) {
      duplicateGroups++;
      itemsInDuplicateGroups += size;
    }
  }
  return { groupOf, duplicateGroups, itemsInDuplicateGroups };
}
