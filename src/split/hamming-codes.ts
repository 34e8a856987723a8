import { LensembleError } from '../util/errors.js';
import { VARIANTS, type DihedralHash } from './phash.js';

/**
 * 64-bit codes, each as two 32-bit words (low word first) in one array, and the item each code belongs
 * to: the identity hashes of a set of images (one code per image) or all their dihedral variants
 * (VARIANTS codes per image).
 */
export interface HammingCodes {
  words: Uint32Array;
  owner: Int32Array;
}

const WORDS = VARIANTS * 2;

function checkHash(hash: DihedralHash, i: number, what: string): void {
  if (!(hash instanceof Uint32Array) || hash.length !== WORDS) {
    const got = hash instanceof Uint32Array ? `${hash.length} words` : typeof hash;
    throw new LensembleError(`${what} ${i} is not a dihedral hash (${WORDS} 32-bit words, got ${got})`);
  }
}

/** The identity hash (variant 0) of every item. */
export function identityCodes(hashes: readonly DihedralHash[], what = 'hash'): HammingCodes {
  const n = hashes.length;
  const codes = { words: new Uint32Array(2 * n), owner: new Int32Array(n) };
  for (let i = 0; i < n; i++) {
    checkHash(hashes[i], i, what);
    codes.words[2 * i] = hashes[i][0];
    codes.words[2 * i + 1] = hashes[i][1];
    codes.owner[i] = i;
  }
  return codes;
}

/** All VARIANTS hashes of every item (item i owns codes VARIANTS·i … VARIANTS·i + VARIANTS − 1). */
export function variantCodes(hashes: readonly DihedralHash[], what = 'hash'): HammingCodes {
  const n = hashes.length;
  const codes = { words: new Uint32Array(WORDS * n), owner: new Int32Array(VARIANTS * n) };
  for (let i = 0; i < n; i++) {
    checkHash(hashes[i], i, what);
    codes.words.set(hashes[i], WORDS * i);
    codes.owner.fill(i, VARIANTS * i, VARIANTS * (i + 1));
  }
  return codes;
}
