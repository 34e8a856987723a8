import { createRng, shuffleInPlace } from '../util/rng.js';

export interface SplitInfo {
  method: 'stratified-groups' | 'explicit-valid';
  seed: number;
  validPct: number;
  /** Distinct groups the split was made over. */
  groups: number;
  /** Groups with more than one image (near-duplicates, or shared explicit group ids). */
  duplicateGroups: number;
  itemsInDuplicateGroups: number;
}

export interface Split {
  train: number[];
  valid: number[];
  info: SplitInfo;
}

/**
 * Seeded stratified split over groups: every group lands wholly on one side, and each class gets about
 * `validPct` of its images in validation (as fastai's RandomSplitter(valid_pct, seed), stratified and
 * group-aware). A class with a single group stays in training.
 */
export function stratifiedGroupSplit(labels: number[], groupOf: ArrayLike<number>, validPct: number, seed: number): { train: number[]; valid: number[] } {
  if (!(validPct > 0 && validPct < 1)) throw new Error(`valid fraction must be in (0, 1), got ${validPct}`);
  const members = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = members.get(groupOf[i]);
    if (list) list.push(i);
    else members.set(groupOf[i], [i]);
  }
  const groupsByClass = new Map<number, number[]>();
  const classCount = new Map<number, number>();
  for (const [group, items] of members) {
    const cls = majority(items.map((i) => labels[i]));
    const groups = groupsByClass.get(cls);
    if (groups) groups.push(group);
    else groupsByClass.set(cls, [group]);
    for (const i of items) classCount.set(labels[i], (classCount.get(labels[i]) ?? 0) + 1);
  }
  const rng = createRng(seed);
  const validGroups = new Set<number>();
  for (const cls of [...groupsByClass.keys()].sort((a, b) => a - b)) {
    const groups = groupsByClass.get(cls)!.sort((a, b) => a - b);
    if (groups.length < 2) continue;
    shuffleInPlace(groups, rng);
    const target = validPct * (classCount.get(cls) ?? 0);
    let taken = 0;
    for (const g of groups.slice(0, -1)) {
      if (taken >= target) break;
      const size = members.get(g)!.length;
      // Stop rather than overshoot by more than half a group.
      if (taken > 0 && taken + size - target > target - taken) break;
      validGroups.add(g);
      taken += size;
    }
  }
  const train: number[] = [];
  const valid: number[] = [];
  for (let i = 0; i < labels.length; i++) (validGroups.has(groupOf[i]) ? valid : train).push(i);
  return { train, valid };
}

function majority(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0];
  for (const [v, c] of counts) if (c > (counts.get(best) ?? 0) || (c === counts.get(best) && v < best)) best = v;
  return best;
}
