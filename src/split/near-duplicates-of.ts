import { identityCodes, variantCodes } from './hamming-codes.js';
import { joinWithinRadius } from './hamming-join.js';
import { bitFrequencies, planMultiIndex } from './multi-index-plan.js';
import { dihedralDistance, type DihedralHash } from './phash.js';

/** For each query, its nearest near-duplicate among the indexed items. */
export interface NearDuplicateMatches {
  /** Index of the nearest indexed item within the radius (the lowest index among equally near ones), or −1. */
  nearest: Int32Array;
  /** dihedralDistance(query, that item), or −1 where there is none. */
  distance: Int8Array;
}

export interface MatchOptions {
  /** 'multi-index' (exact, sub-quadratic), 'all-pairs' (the reference), or 'auto' (default): all pairs for small inputs. */
  method?: 'auto' | 'multi-index' | 'all-pairs';
  /** Seeds which bits go into which index block: changes the time taken, never the answer. */
  seed?: number;
}

/** Below this many (query, item) pairs comparing them all is as quick as building an index. */
const ALL_PAIRS_UNDER = 125_000;

/**
 * Which of `queries` have a near-duplicate in `index`: some item with dihedralDistance(query, item) ≤
 * radius (a flip or turn of the item within `radius` bits of the query's hash). E.g. validation images
 * that leak into training: findNearDuplicatesOf(valid, train, 10).nearest[v] ≥ 0.
 */
export function findNearDuplicatesOf(queries: DihedralHash[], index: DihedralHash[], radius: number, options: MatchOptions = {}): NearDuplicateMatches {
  const matches = { nearest: new Int32Array(queries.length).fill(-1), distance: new Int8Array(queries.length).fill(-1) };
  if (!(radius >= 0) || queries.length === 0 || index.length === 0) return matches;
  const keep = (q: number, item: number, d: number): void => {
    const best = matches.distance[q];
    if (best < 0 || d < best || (d === best && item < matches.nearest[q])) {
      matches.distance[q] = d;
      matches.nearest[q] = item;
    }
  };
  const method = options.method === 'auto' || options.method === undefined ? (queries.length * index.length < ALL_PAIRS_UNDER ? 'all-pairs' : 'multi-index') : options.method;
  const r = Math.min(Math.floor(radius), 64);
  if (method === 'all-pairs') {
    queries.forEach((query, q) =>
      index.forEach((item, i) => {
        const d = dihedralDistance(query, item);
        if (d <= r) keep(q, i, d);
      }),
    );
  } else {
    const left = identityCodes(queries, 'query hash');
    const right = variantCodes(index, 'index hash');
    const plan = planMultiIndex(left.owner.length, right.owner.length, r, bitFrequencies(left.words), options.seed ?? 0);
    joinWithinRadius(left, right, r, plan, keep);
  }
  return matches;
}
