import type { HammingCodes } from './hamming-codes.js';
import { type IndexBlock, type MultiIndexPlan, neighbourCount } from './multi-index-plan.js';

/** Receives every (left, right) code pair within the radius, by owner; a pair may arrive more than once. */
export type PairSink = (leftOwner: number, rightOwner: number, distance: number) => void;

export interface JoinOptions {
  /** Only pairs whose left owner is below the right owner (an all-pairs loop's j > i). */
  ownersAscending?: boolean;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Codes sorted by one block's key: bucket `key` holds codes start[key] … start[key + 1] − 1. */
interface Buckets extends HammingCodes {
  start: Int32Array;
  /** Keys of the non-empty buckets, ascending. */
  occupied: Int32Array;
}

/** Byte lookup tables for a block's key: key = OR over the code's 8 bytes p of table[256·p + byte]. */
function keyTables(bits: readonly number[]): Int32Array {
  const table = new Int32Array(8 * 256);
  bits.forEach((bit, k) => {
    const base = (bit >> 3) * 256;
    for (let v = 0; v < 256; v++) if ((v >> (bit & 7)) & 1) table[base + v] |= 1 << k;
  });
  return table;
}

function bucketize(codes: HammingCodes, block: IndexBlock): Buckets {
  const n = codes.owner.length;
  const size = 2 ** block.bits.length;
  const t = keyTables(block.bits);
  const { words, owner } = codes;
  const keys = new Int32Array(n);
  const start = new Int32Array(size + 1);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    const key =
      t[lo & 255] | t[256 + ((lo >>> 8) & 255)] | t[512 + ((lo >>> 16) & 255)] | t[768 + (lo >>> 24)] |
      t[1024 + (hi & 255)] | t[1280 + ((hi >>> 8) & 255)] | t[1536 + ((hi >>> 16) & 255)] | t[1792 + (hi >>> 24)];
    keys[i] = key;
    start[key + 1]++;
  }
  let occupiedCount = 0;
  for (let k = 0; k < size; k++) {
    if (start[k + 1] > 0) occupiedCount++;
    start[k + 1] += start[k];
  }
  const occupied = new Int32Array(occupiedCount);
  for (let k = 0, o = 0; k < size; k++) if (start[k + 1] > start[k]) occupied[o++] = k;
  const cursor = start.slice(0, size);
  const sortedWords = new Uint32Array(2 * n);
  const sortedOwner = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = cursor[keys[i]]++;
    sortedWords[2 * at] = words[2 * i];
    sortedWords[2 * at + 1] = words[2 * i + 1];
    sortedOwner[at] = owner[i];
  }
  return { start, words: sortedWords, owner: sortedOwner, occupied };
}

/** Every key of `bits` bits with at most `threshold` bits set (the XOR masks to a neighbouring bucket). */
export function masksWithin(bits: number, threshold: number): Int32Array {
  const masks = new Int32Array(neighbourCount(bits, threshold));
  let count = 0;
  const extend = (mask: number, from: number, left: number): void => {
    masks[count++] = mask;
    if (left === 0) return;
    for (let b = from; b < bits; b++) extend(mask | (1 << b), b + 1, left - 1);
  };
  extend(0, 0, Math.min(threshold, bits));
  return masks;
}

/** Joins one block: each left bucket with every right bucket whose key is within the block's threshold. */
function joinBlock(left: HammingCodes, right: HammingCodes, block: IndexBlock, radius: number, ascending: boolean, sink: PairSink): void {
  const L = bucketize(left, block);
  const R = bucketize(right, block);
  const masks = masksWithin(block.bits.length, block.threshold);
  const { occupied } = L;
  const lStart = L.start, lWords = L.words, lOwner = L.owner;
  const rStart = R.start, rWords = R.words, rOwner = R.owner;
  for (let m = 0; m < masks.length; m++) {
    const mask = masks[m];
    for (let o = 0; o < occupied.length; o++) {
      const key = occupied[o];
      const other = key ^ mask;
      const r0 = rStart[other];
      const r1 = rStart[other + 1];
      if (r0 === r1) continue;
      const l1 = lStart[key + 1];
      for (let x = lStart[key]; x < l1; x++) {
        const xLo = lWords[2 * x];
        const xHi = lWords[2 * x + 1];
        const xOwner = lOwner[x];
        const above = ascending ? xOwner : -1;
        for (let y = r0; y < r1; y++) {
          let d = popcount32(xLo ^ rWords[2 * y]);
          if (d > radius) continue;
          d += popcount32(xHi ^ rWords[2 * y + 1]);
          if (d <= radius && rOwner[y] > above) sink(xOwner, rOwner[y], d);
        }
      }
    }
  }
}

/**
 * Every (left, right) pair of codes within `radius` bits, by the plan's blocks (exact for a plan from
 * planMultiIndex, see multi-index-plan.ts); one block at a time, so memory is both sides sorted once.
 */
export function joinWithinRadius(left: HammingCodes, right: HammingCodes, radius: number, plan: MultiIndexPlan, sink: PairSink, options: JoinOptions = {}): void {
  for (const block of plan.blocks) joinBlock(left, right, block, radius, options.ownersAscending ?? false, sink);
}
