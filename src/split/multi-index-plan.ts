import { createRng, shuffleInPlace } from '../util/rng.js';

/**
 * Exact Hamming-radius search by multi-index hashing with the generalized pigeonhole principle
 * (Qin et al., "GPH: Similarity Search in Hamming Space", ICDE 2018): split the 64 bits into disjoint
 * blocks and give block i a threshold τᵢ with Σ(τᵢ + 1) = radius + 1. If two codes were more than τᵢ
 * apart in every block they would be more than `radius` apart in all, so every pair within `radius`
 * is within τᵢ in at least one block: bucketing both sides by each block's bits and joining every
 * bucket with the buckets within τᵢ bits of it finds all of them. Plain pigeonhole (τᵢ = 0, radius + 1
 * blocks) needs 6-bit blocks at radius 10, whose buckets hold 1/64 of everything; letting τᵢ grow keeps
 * blocks near log₂(n) bits, where a bucket holds a handful of codes.
 */
export interface IndexBlock {
  /** Bit positions (0 … 63; 0 … 31 in the low word) that make up the bucket key, lowest key bit first. */
  bits: number[];
  /** Bucket keys within this many bits of each other are joined. */
  threshold: number;
}

export interface MultiIndexPlan {
  blocks: IndexBlock[];
  /** Code pairs the plan is expected to compare, for uniformly random codes. */
  expectedCandidates: number;
  /** The cost model's estimate, in seconds on one core (calibrated on a 2-core Xeon). */
  expectedSeconds: number;
}

/** Largest bucket key: 2^24 buckets are 64 MB of offsets per side. */
export const MAX_KEY_BITS = 24;

/**
 * The cost model, in seconds on one core of a 2-core Xeon (busy with other work; hamming-join-wasm.ts
 * kernel): per code sorted into a block's buckets, per bucket, and for each XOR mask per occupied left
 * bucket visited, per left code visited and per code pair compared.
 */
const COST = { sortPerCode: 100e-9, perBucket: 20e-9, perVisit: 20e-9, perLeftCode: 3e-9, perCandidate: 0.6e-9 };

/** How many keys of `bits` bits lie within `threshold` of a given key: Σ_{d ≤ t} C(bits, d). */
export function neighbourCount(bits: number, threshold: number): number {
  let total = 0;
  let choose = 1;
  for (let d = 0; d <= Math.min(threshold, bits); d++) {
    total += choose;
    choose = (choose * (bits - d)) / (d + 1);
  }
  return total;
}

/** The cost model's estimate for one block joining `left` with `right` uniformly random codes. */
export function blockCost(bits: number, threshold: number, left: number, right: number): { seconds: number; candidates: number } {
  const buckets = 2 ** bits;
  const masks = neighbourCount(bits, threshold);
  const occupiedLeft = buckets * (1 - Math.exp(-left / buckets));
  const candidates = (masks * left * right) / buckets;
  const perMask = COST.perVisit * occupiedLeft + COST.perLeftCode * left;
  const seconds = COST.sortPerCode * (left + right) + COST.perBucket * buckets + masks * perMask + COST.perCandidate * candidates;
  return { seconds, candidates };
}

/**
 * The cheapest block layout under the cost model for joining `left` codes with `right` codes within
 * `radius`: a dynamic programme over (bits used, threshold units used), each block adding its bits and
 * τ + 1 units. Bits left out of every block are allowed (they can only add distance). Which bits go into
 * which block is a seeded shuffle of the most balanced bits (`bitFrequency`: the share of codes with each
 * bit set; constant bits make useless keys): the search stays exact whatever the seed, which only moves
 * the cost around.
 */
export function planMultiIndex(left: number, right: number, radius: number, bitFrequency: Float64Array, seed = 0): MultiIndexPlan {
  if (!Number.isInteger(radius) || radius < 0) throw new Error(`radius must be a whole number ≥ 0, got ${radius}`);
  const units = Math.min(radius, 64) + 1;
  const INF = Number.POSITIVE_INFINITY;
  // best[u][t]: cheapest cost using u bits and t units; choice[u][t] = the last block added.
  const best = Array.from({ length: 65 }, () => new Float64Array(units + 1).fill(INF));
  const choice = Array.from({ length: 65 }, () => new Array<[bits: number, threshold: number] | undefined>(units + 1));
  const costOf = Array.from({ length: MAX_KEY_BITS + 1 }, (_, b) => Float64Array.from({ length: units + 1 }, (_, s) => (s === 0 ? INF : blockCost(b, s - 1, left, right).seconds)));
  best[0][0] = 0;
  for (let u = 0; u <= 64; u++) {
    for (let t = 0; t < units; t++) {
      if (best[u][t] === INF) continue;
      for (let b = 0; b <= Math.min(MAX_KEY_BITS, 64 - u); b++) {
        for (let s = 1; s <= units - t; s++) {
          const cost = best[u][t] + costOf[b][s];
          if (cost < best[u + b][t + s]) {
            best[u + b][t + s] = cost;
            choice[u + b][t + s] = [b, s - 1];
          }
        }
      }
    }
  }
  let u = 0;
  for (let v = 1; v <= 64; v++) if (best[v][units] < best[u][units]) u = v;
  const shapes: [number, number][] = [];
  for (let t = units; t > 0; ) {
    const [b, threshold] = choice[u][t]!;
    shapes.push([b, threshold]);
    u -= b;
    t -= threshold + 1;
  }
  shapes.sort((a, b) => b[0] - a[0] || b[1] - a[1]);

  const byBalance = Array.from({ length: 64 }, (_, i) => i).sort((a, b) => Math.abs(bitFrequency[a] - 0.5) - Math.abs(bitFrequency[b] - 0.5) || a - b);
  const used = byBalance.slice(0, shapes.reduce((sum, [b]) => sum + b, 0));
  shuffleInPlace(used, createRng(seed));
  let next = 0;
  const blocks = shapes.map(([b, threshold]) => ({ bits: used.slice(next, (next += b)).sort((x, y) => x - y), threshold }));
  let expectedCandidates = 0;
  let expectedSeconds = 0;
  for (const block of blocks) {
    const c = blockCost(block.bits.length, block.threshold, left, right);
    expectedCandidates += c.candidates;
    expectedSeconds += c.seconds;
  }
  return { blocks, expectedCandidates, expectedSeconds };
}

/** Share of codes with each of the 64 bits set, over at most `sample` evenly spaced codes. */
export function bitFrequencies(words: Uint32Array, sample = 65536): Float64Array {
  const counts = new Float64Array(64);
  const codes = words.length / 2;
  const step = Math.max(1, Math.floor(codes / sample));
  let seen = 0;
  for (let i = 0; i < codes; i += step, seen++) {
    for (let b = 0; b < 32; b++) {
      counts[b] += (words[2 * i] >>> b) & 1;
      counts[32 + b] += (words[2 * i + 1] >>> b) & 1;
    }
  }
  return counts.map((c) => (seen ? c / seen : 0.5));
}
