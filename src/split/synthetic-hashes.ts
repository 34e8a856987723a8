import { createRng, type Rng } from '../util/rng.js';
import { VARIANTS, type DihedralHash } from './phash.js';

/**
 * Dihedral hashes the way phash.ts makes them, from made-up 8×8 low-frequency DCT blocks instead of
 * images, for benchmarks and tests that need millions of them: a flip or 90° turn of an image is a signed
 * permutation of its DCT coefficients, so the eight variant hashes come from the coefficients alone, and a
 * near-duplicate is a transformed copy of a block plus a little noise (re-encoding, rescaling), whose hash
 * then differs in the few bits whose coefficients sit near the median.
 */
const LOW = 8;
const COEFFS = LOW * LOW;

/** Coefficient (u, v) of the image turned a quarter (phash.ts dihedralSource): (−1)^v · C[v][u]. */
function quarterTurn(c: Float64Array): Float64Array {
  const out = new Float64Array(COEFFS);
  for (let u = 0; u < LOW; u++) for (let v = 0; v < LOW; v++) out[u * LOW + v] = (v % 2 ? -1 : 1) * c[v * LOW + u];
  return out;
}

function transpose(c: Float64Array): Float64Array {
  const out = new Float64Array(COEFFS);
  for (let u = 0; u < LOW; u++) for (let v = 0; v < LOW; v++) out[u * LOW + v] = c[v * LOW + u];
  return out;
}

/** DCT block of dihedral variant k (quarter turns k mod 4, after a transpose when k ≥ 4). */
export function dihedralCoefficients(c: Float64Array, k: number): Float64Array {
  let out = c;
  for (let r = 0; r < k % 4; r++) out = quarterTurn(out);
  return k >= 4 ? transpose(out) : out;
}

/** Variant k as a signed permutation: coefficient i of variant k = SIGN[k][i] · c[SOURCE[k][i]]. */
const SOURCE: Int32Array[] = [];
const SIGN: Float64Array[] = [];
for (let k = 0; k < VARIANTS; k++) {
  const probe = dihedralCoefficients(Float64Array.from({ length: COEFFS }, (_, i) => i + 1), k);
  SOURCE.push(Int32Array.from(probe, (v) => Math.abs(v) - 1));
  SIGN.push(Float64Array.from(probe, Math.sign));
}

const variant = new Float64Array(COEFFS);
const ac = new Float64Array(COEFFS - 1);

/** The k-th smallest of `a` (quickselect; reorders `a`): a sort's a[k] for a fraction of a sort's time. */
function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** phash.ts hashOfDct on each variant: bit i set when coefficient i is above the median of the 63 AC coefficients. */
export function hashOfCoefficients(c: Float64Array): DihedralHash {
  const out = new Uint32Array(VARIANTS * 2);
  const medians = [0, 0, 0, 0];
  for (let k = 0; k < VARIANTS; k++) {
    const source = SOURCE[k];
    const sign = SIGN[k];
    for (let i = 0; i < COEFFS; i++) variant[i] = sign[i] * c[source[i]];
    // A transpose permutes without changing signs, so variant k + 4 has variant k's median.
    if (k < 4) {
      ac.set(variant.subarray(1));
      medians[k] = kthSmallest(ac, 31);
    }
    const median = medians[k % 4];
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < COEFFS; i++) {
      if (variant[i] > median) {
        if (i < 32) lo |= 1 << i;
        else hi |= 1 << (i - 32);
      }
    }
    out[k * 2] = lo >>> 0;
    out[k * 2 + 1] = hi >>> 0;
  }
  return out;
}

/** A natural-looking block: bright DC, AC energy falling with frequency. */
function randomCoefficients(rng: Rng): Float64Array {
  const c = new Float64Array(COEFFS);
  c[0] = 2000;
  for (let u = 0; u < LOW; u++) for (let v = 0; v < LOW; v++) if (u + v > 0) c[u * LOW + v] = (rng.normal() * 400) / (u + v);
  return c;
}

export interface PlantedHashes {
  hashes: DihedralHash[];
  /** Planted cluster per item (−1: a random image with no planted copy). */
  clusterOf: Int32Array;
  clusters: number;
}

export interface PlantOptions {
  /** Share of items that belong to a planted cluster (default 0.2). */
  clusteredShare?: number;
  /** Cluster sizes are uniform in 2 … maxClusterSize (default 12). */
  maxClusterSize?: number;
  /** Each cluster's noise level (relative to a coefficient's spread) is uniform in 0 … maxNoise (default 0.12). */
  maxNoise?: number;
  seed?: number;
}

/**
 * `count` dihedral hashes in shuffled order: random images, and clusters of copies of one image, each
 * copy flipped or turned (a random dihedral variant) with its own noise.
 */
export function plantNearDuplicates(count: number, options: PlantOptions = {}): PlantedHashes {
  const { clusteredShare = 0.2, maxClusterSize = 12, maxNoise = 0.3, seed = 1 } = options;
  const rng = createRng(seed);
  const hashes: DihedralHash[] = [];
  const clusterOf: number[] = [];
  let clusters = 0;
  while (hashes.length < count * clusteredShare) {
    const size = Math.min(2 + rng.int(maxClusterSize - 1), count - hashes.length);
    const base = randomCoefficients(rng);
    const noise = rng.next() * maxNoise;
    for (let m = 0; m < size; m++) {
      const copy = dihedralCoefficients(base, rng.int(VARIANTS)).slice();
      for (let i = 1; i < COEFFS; i++) copy[i] += (rng.normal() * noise * 400) / ((i >> 3) + (i & 7));
      hashes.push(hashOfCoefficients(copy));
      clusterOf.push(clusters);
    }
    clusters++;
  }
  while (hashes.length < count) {
    hashes.push(hashOfCoefficients(randomCoefficients(rng)));
    clusterOf.push(-1);
  }
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { hashes: order.map((i) => hashes[i]), clusterOf: Int32Array.from(order, (i) => clusterOf[i]), clusters };
}
