import { describe, expect, it } from 'vitest';
import { readDataset } from '../src/dataset/read-dataset.js';
import { scanRecords } from '../src/dataset/scan.js';
import { identityCodes, variantCodes, type HammingCodes } from '../src/split/hamming-codes.js';
import { joinWithinRadius } from '../src/split/hamming-join.js';
import { planMultiIndex } from '../src/split/multi-index-plan.js';
import { findNearDuplicatesOf } from '../src/split/near-duplicates-of.js';
import { groupNearDuplicates, groupNearDuplicatesAllPairs } from '../src/split/near-duplicates.js';
import { dihedralHash, THUMB, type DihedralHash } from '../src/split/phash.js';
import { hashOfCoefficients, plantNearDuplicates } from '../src/split/synthetic-hashes.js';
import { LensembleError } from '../src/util/errors.js';
import { createRng } from '../src/util/rng.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const popcount = (v: number): number => {
  let c = 0;
  for (let x = v >>> 0; x; x &= x - 1) c++;
  return c;
};

/** Codes in clumps: random centres, each with copies a few random bit flips away (0 … 14). */
function clumpedCodes(count: number, seed: number): HammingCodes {
  const rng = createRng(seed);
  const words = new Uint32Array(2 * count);
  for (let i = 0; i < count; i++) {
    if (i % 6 === 0) {
      words[2 * i] = rng.int(2 ** 32);
      words[2 * i + 1] = rng.int(2 ** 32);
      continue;
    }
    const from = i - 1 - rng.int(i % 6);
    words[2 * i] = words[2 * from];
    words[2 * i + 1] = words[2 * from + 1];
    for (let f = rng.int(15); f > 0; f--) {
      const bit = rng.int(64);
      words[2 * i + (bit >> 5)] ^= 1 << (bit & 31);
    }
  }
  return { words, owner: Int32Array.from({ length: count }, (_, i) => i) };
}

function pairsWithin(left: HammingCodes, right: HammingCodes, radius: number): Set<string> {
  const pairs = new Set<string>();
  for (let x = 0; x < left.owner.length; x++) {
    for (let y = 0; y < right.owner.length; y++) {
      const d = popcount(left.words[2 * x] ^ right.words[2 * y]) + popcount(left.words[2 * x + 1] ^ right.words[2 * y + 1]);
      if (d <= radius) pairs.add(`${left.owner[x]},${right.owner[y]},${d}`);
    }
  }
  return pairs;
}

describe('multi-index Hamming join', () => {
  const left = clumpedCodes(600, 1);
  const right = clumpedCodes(900, 2);
  for (let i = 0; i < 300; i++) right.words.set(left.words.subarray(2 * i, 2 * i + 2), 2 * i); // shared clumps across sides
  const halfSet = new Float64Array(64).fill(0.5);

  it('plans disjoint blocks whose thresholds satisfy the generalized pigeonhole principle', () => {
    for (const n of [100, 3_296, 100_000, 1_000_000, 10_000_000]) {
      for (const radius of [0, 1, 4, 10, 16, 30]) {
        const plan = planMultiIndex(n, 8 * n, radius, halfSet);
        const bits = plan.blocks.flatMap((b) => b.bits);
        expect(new Set(bits).size).toBe(bits.length);
        expect(bits.every((b) => Number.isInteger(b) && b >= 0 && b < 64)).toBe(true);
        expect(plan.blocks.reduce((sum, b) => sum + b.threshold + 1, 0)).toBe(radius + 1);
      }
    }
  });

  it('finds exactly the pairs a brute-force scan finds, at every radius and block layout', () => {
    for (const radius of [0, 1, 2, 3, 5, 8, 10, 12]) {
      const expected = pairsWithin(left, right, radius);
      expect(expected.size).toBeGreaterThan(left.owner.length / 2);
      for (const [n, seed] of [[2_000, 0], [100_000, 1], [1_000_000, 2]]) {
        for (const kernel of ['wasm', 'typescript'] as const) {
          const found = new Set<string>();
          joinWithinRadius(left, right, radius, planMultiIndex(n, 8 * n, radius, halfSet, seed), (l, r, d) => found.add(`${l},${r},${d}`), { kernel });
          expect(found).toEqual(expected);
        }
      }
    }
  });

  it('keeps only ascending owners when asked', () => {
    const expected = [...pairsWithin(left, right, 6)].filter((p) => {
      const [l, r] = p.split(',').map(Number);
      return l < r;
    });
    for (const kernel of ['wasm', 'typescript'] as const) {
      const found = new Set<string>();
      joinWithinRadius(left, right, 6, planMultiIndex(100_000, 800_000, 6, halfSet), (l, r, d) => found.add(`${l},${r},${d}`), { ownersAscending: true, kernel });
      expect(found).toEqual(new Set(expected));
    }
  });

  it('drains its output buffer as often as needed: a bucket of 40,000 identical codes', () => {
    const same = { words: new Uint32Array(2 * 200).fill(0x12345678), owner: Int32Array.from({ length: 200 }, (_, i) => i) };
    const many = { words: new Uint32Array(2 * 40_000).fill(0x12345678), owner: Int32Array.from({ length: 40_000 }, (_, i) => i) };
    let pairs = 0;
    let sum = 0;
    joinWithinRadius(same, many, 3, planMultiIndex(200, 40_000, 3, halfSet), (l, r, d) => {
      pairs++;
      sum += l + r + d;
    });
    // Each of the plan's blocks matches every pair once (all codes equal: distance 0 in every block).
    const blocks = planMultiIndex(200, 40_000, 3, halfSet).blocks.length;
    expect(pairs).toBe(blocks * 200 * 40_000);
    expect(sum).toBe(blocks * (40_000 * (199 * 200) / 2 + 200 * (39_999 * 40_000) / 2));
  });

  it('names the item whose hash is malformed', () => {
    expect(() => variantCodes([new Uint32Array(16), new Uint32Array(2)])).toThrow(LensembleError);
    expect(() => identityCodes([new Uint32Array(16), new Uint32Array(2)], 'query hash')).toThrow(/query hash 1 .*got 2 words/);
  });
});

describe('planted near-duplicate hashes', () => {
  it('are the hashes phash.ts makes: a DCT block hashed in its eight dihedral variants', () => {
    const rng = createRng(3);
    for (let t = 0; t < 5; t++) {
      const gray = Uint8Array.from({ length: THUMB * THUMB }, () => rng.int(256));
      // The 8×8 low-frequency DCT-II block, as phash.ts computes it.
      const c = new Float64Array(64);
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) {
          let s = 0;
          for (let y = 0; y < THUMB; y++) {
            for (let x = 0; x < THUMB; x++) s += gray[y * THUMB + x] * Math.cos(((2 * y + 1) * u * Math.PI) / (2 * THUMB)) * Math.cos(((2 * x + 1) * v * Math.PI) / (2 * THUMB));
          }
          c[u * 8 + v] = s;
        }
      }
      expect(Array.from(hashOfCoefficients(c))).toEqual(Array.from(dihedralHash(gray)));
    }
  });
});

const sameGroups = (a: Int32Array, b: Int32Array): boolean => a.length === b.length && a.every((g, i) => g === b[i]);

describe('near-duplicate grouping by multi-index', () => {
  const planted = plantNearDuplicates(3_000, { seed: 11 });

  it('gives the all-pairs groups on planted clusters, whatever the seed', () => {
    for (const radius of [0, 4, 10, 14]) {
      const reference = groupNearDuplicatesAllPairs(planted.hashes, radius);
      if (radius >= 4) expect(reference.duplicateGroups).toBeGreaterThan(planted.clusters / 2);
      for (const seed of [0, 1, 2]) {
        const indexed = groupNearDuplicates(planted.hashes, radius, undefined, { method: 'multi-index', seed });
        expect(sameGroups(indexed.groupOf, reference.groupOf)).toBe(true);
        expect(indexed.duplicateGroups).toBe(reference.duplicateGroups);
      }
    }
  });

  it('still unites items that share a key, and groups transitively', () => {
    const h = (bits: number) => Uint32Array.from({ length: 16 }, (_, k) => (k % 2 === 0 ? bits : 0));
    const hashes = [h(0b0), h(0b11), h(0b1111), h(0xffff0000)];
    expect(Array.from(groupNearDuplicates(hashes, 2, ['a', 'b', 'c', 'c'], { method: 'multi-index' }).groupOf)).toEqual([0, 0, 0, 0]);
    expect(Array.from(groupNearDuplicates(hashes, 2, undefined, { method: 'multi-index' }).groupOf)).toEqual([0, 0, 0, 3]);
    expect(Array.from(groupNearDuplicates(hashes, -1, undefined, { method: 'multi-index' }).groupOf)).toEqual([0, 1, 2, 3]);
  });

  it('finds each query’s nearest near-duplicate as the all-pairs scan does', () => {
    const queries = planted.hashes.slice(0, 1_000);
    const index = planted.hashes.slice(1_000);
    for (const radius of [4, 10]) {
      const reference = findNearDuplicatesOf(queries, index, radius, { method: 'all-pairs' });
      const indexed = findNearDuplicatesOf(queries, index, radius, { method: 'multi-index' });
      expect(reference.nearest.filter((i) => i >= 0).length).toBeGreaterThan(50);
      expect(Array.from(indexed.nearest)).toEqual(Array.from(reference.nearest));
      expect(Array.from(indexed.distance)).toEqual(Array.from(reference.distance));
    }
    expect(findNearDuplicatesOf([], index, 10).nearest).toHaveLength(0);
    expect(Array.from(findNearDuplicatesOf(queries.slice(0, 3), [], 10).nearest)).toEqual([-1, -1, -1]);
  });
});

describe.skipIf(!SHARED_DIR)('near-duplicate groups in the real rice-leaf set', () => {
  it('are the all-pairs groups: 256 at 10 bits, 292 at 4, none mixing labels', async () => {
    const ds = await readDataset(sharedPath('data', 'rice-leaf'));
    const scan = await scanRecords(ds.records);
    const hashes: DihedralHash[] = scan.ok.map((s) => s.facts.phash);
    const labels = scan.ok.map((s) => s.record.label);
    expect(hashes).toHaveLength(3296);
    for (const [radius, groups] of [[10, 256], [4, 292]]) {
      const reference = groupNearDuplicatesAllPairs(hashes, radius);
      const indexed = groupNearDuplicates(hashes, radius, undefined, { method: 'multi-index' });
      expect(sameGroups(indexed.groupOf, reference.groupOf)).toBe(true);
      expect(new Set(indexed.groupOf).size).toBe(groups);
      const labelOfGroup = new Map<number, string | undefined>();
      indexed.groupOf.forEach((g, i) => {
        if (!labelOfGroup.has(g)) labelOfGroup.set(g, labels[i]);
        expect(labels[i]).toBe(labelOfGroup.get(g));
      });
    }
    // Leak check (valid × train) the same way: the first 600 images against the rest.
    const reference = findNearDuplicatesOf(hashes.slice(0, 600), hashes.slice(600), 10, { method: 'all-pairs' });
    const indexed = findNearDuplicatesOf(hashes.slice(0, 600), hashes.slice(600), 10, { method: 'multi-index' });
    expect(Array.from(indexed.nearest)).toEqual(Array.from(reference.nearest));
  }, 240_000);
});
