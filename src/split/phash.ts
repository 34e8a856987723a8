/**
 * Perceptual hash (DCT pHash, 64 bits) made invariant to flips and 90° rotations by hashing all eight
 * dihedral variants of the thumbnail; rescaling invariance comes from the thumbnail itself (every image is
 * squished to 32×32 first, which commutes with flips and 90° rotations).
 */
export const THUMB = 32;
const LOW = 8;
export const VARIANTS = 8;

/** One 64-bit hash as two 32-bit words; a dihedral hash is VARIANTS of them (identity first). */
export type DihedralHash = Uint32Array;

const cosTable = (() => {
  const t = new Float64Array(LOW * THUMB);
  for (let u = 0; u < LOW; u++) for (let x = 0; x < THUMB; x++) t[u * THUMB + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * THUMB));
  return t;
})();

/** The 8 low-frequency rows × 8 columns of the 2-D DCT-II of a THUMB×THUMB gray image. */
function lowDct(pixels: Float64Array): Float64Array {
  const rowsOut = new Float64Array(THUMB * LOW);
  for (let y = 0; y < THUMB; y++) {
    for (let v = 0; v < LOW; v++) {
      let s = 0;
      for (let x = 0; x < THUMB; x++) s += pixels[y * THUMB + x] * cosTable[v * THUMB + x];
      rowsOut[y * LOW + v] = s;
    }
  }
  const out = new Float64Array(LOW * LOW);
  for (let u = 0; u < LOW; u++) {
    for (let v = 0; v < LOW; v++) {
      let s = 0;
      for (let y = 0; y < THUMB; y++) s += rowsOut[y * LOW + v] * cosTable[u * THUMB + y];
      out[u * LOW + v] = s;
    }
  }
  return out;
}

function hashOfDct(dct: Float64Array, out: Uint32Array, slot: number): void {
  // Median of the 63 AC coefficients; the DC term only sets the first bit.
  const median = Array.from(dct.subarray(1)).sort((a, b) => a - b)[31];
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 64; i++) {
    if (dct[i] > median) {
      if (i < 32) lo |= 1 << i;
      else hi |= 1 << (i - 32);
    }
  }
  out[slot * 2] = lo >>> 0;
  out[slot * 2 + 1] = hi >>> 0;
}

/** Pixel (x, y) of dihedral variant k (k = rotation quarter-turns + 4 × transposed). */
function dihedralSource(k: number, x: number, y: number): number {
  const n = THUMB - 1;
  let sx = x;
  let sy = y;
  if (k >= 4) [sx, sy] = [sy, sx];
  for (let r = 0; r < k % 4; r++) [sx, sy] = [sy, n - sx];
  return sy * THUMB + sx;
}

/** Dihedral pHash of a THUMB×THUMB 8-bit grayscale image. */
export function dihedralHash(gray: Uint8Array): DihedralHash {
  if (gray.length !== THUMB * THUMB) throw new Error(`dihedralHash needs a ${THUMB}×${THUMB} image`);
  const out = new Uint32Array(VARIANTS * 2);
  const variant = new Float64Array(THUMB * THUMB);
  for (let k = 0; k < VARIANTS; k++) {
    for (let y = 0; y < THUMB; y++) for (let x = 0; x < THUMB; x++) variant[y * THUMB + x] = gray[dihedralSource(k, x, y)];
    hashOfDct(lowDct(variant), out, k);
  }
  return out;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Smallest Hamming distance between a's identity hash and any dihedral variant of b. */
export function dihedralDistance(a: DihedralHash, b: DihedralHash): number {
  let best = 64;
  for (let k = 0; k < VARIANTS; k++) {
    const d = popcount32(a[0] ^ b[2 * k]) + popcount32(a[1] ^ b[2 * k + 1]);
    if (d < best) best = d;
  }
  return best;
}

export function hashToHex(hash: DihedralHash): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}

export function hashFromHex(hex: string): DihedralHash {
  const bytes = Buffer.from(hex, 'hex');
  const out = new Uint32Array(VARIANTS * 2);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
