import { alignUp, MAX_PAGES, PAGE_BYTES, pagesFor, wasmApi, type WasmMemory } from '../util/wasm-module.js';
import type { HammingCodes } from './hamming-codes.js';
import { joinKernel, PAIR_INTS, STATE_INTS } from './hamming-join-wasm.js';
import { type IndexBlock, type MultiIndexPlan, neighbourCount } from './multi-index-plan.js';

/** Receives every (left, right) code pair within the radius, by owner; a pair may arrive more than once. */
export type PairSink = (leftOwner: number, rightOwner: number, distance: number) => void;

export interface JoinOptions {
  /** Only pairs whose left owner is below the right owner (an all-pairs loop's j > i). */
  ownersAscending?: boolean;
  /** The inner loop: WebAssembly (default, where available and the codes fit its 4 GB) or TypeScript. */
  kernel?: 'wasm' | 'typescript';
}

/**
 * Every (left, right) pair of codes within `radius` bits, by the plan's blocks (exact for a plan from
 * planMultiIndex, see multi-index-plan.ts); one block at a time, so memory is both sides sorted once.
 */
export function joinWithinRadius(left: HammingCodes, right: HammingCodes, radius: number, plan: MultiIndexPlan, sink: PairSink, options: JoinOptions = {}): void {
  const ascending = options.ownersAscending ?? false;
  const layout = wasmLayout(left.owner.length, right.owner.length, plan.blocks);
  if (options.kernel !== 'typescript' && wasmApi && layout.bytes <= MAX_PAGES * PAGE_BYTES) {
    joinByWasm(left, right, radius, plan.blocks, ascending, sink, layout);
  } else {
    for (const block of plan.blocks) joinBlock(left, right, block, radius, ascending, sink);
  }
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

/** Codes sorted by one block's key: bucket `key` holds codes start[key] … start[key + 1] − 1. */
interface Buckets extends HammingCodes {
  start: Int32Array;
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

/**
 * Counting sort of `codes` by the block's key into `into` (start zeroed, 2^bits + 1 long); the keys of the
 * non-empty buckets go to `occupied` where given. Returns how many buckets are occupied and the largest.
 */
function bucketize(codes: HammingCodes, block: IndexBlock, into: Buckets, occupied?: Int32Array): { occupiedCount: number; largest: number } {
  const n = codes.owner.length;
  const size = 2 ** block.bits.length;
  const t = keyTables(block.bits);
  const { words, owner } = codes;
  const { start } = into;
  const keys = new Int32Array(n);
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
  let largest = 0;
  for (let k = 0; k < size; k++) {
    const count = start[k + 1];
    if (count > 0 && occupied) occupied[occupiedCount] = k;
    if (count > 0) occupiedCount++;
    if (count > largest) largest = count;
    start[k + 1] += start[k];
  }
  const cursor = start.slice(0, size);
  for (let i = 0; i < n; i++) {
    const at = cursor[keys[i]]++;
    into.words[2 * at] = words[2 * i];
    into.words[2 * at + 1] = words[2 * i + 1];
    into.owner[at] = owner[i];
  }
  return { occupiedCount, largest };
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

const sortedLike = (codes: HammingCodes, bits: number): Buckets => ({
  start: new Int32Array(2 ** bits + 1),
  words: new Uint32Array(codes.words.length),
  owner: new Int32Array(codes.owner.length),
});

/** The TypeScript inner loop (what hamming-join-wasm.ts does): each left bucket against the right buckets within the block's threshold. */
function joinBlock(left: HammingCodes, right: HammingCodes, block: IndexBlock, radius: number, ascending: boolean, sink: PairSink): void {
  const bits = block.bits.length;
  const L = sortedLike(left, bits);
  const R = sortedLike(right, bits);
  const occupiedKeys = new Int32Array(Math.min(2 ** bits, left.owner.length));
  const { occupiedCount } = bucketize(left, block, L, occupiedKeys);
  bucketize(right, block, R);
  const masks = masksWithin(bits, block.threshold);
  const lStart = L.start, lWords = L.words, lOwner = L.owner;
  const rStart = R.start, rWords = R.words, rOwner = R.owner;
  for (let m = 0; m < masks.length; m++) {
    const mask = masks[m];
    for (let o = 0; o < occupiedCount; o++) {
      const key = occupiedKeys[o];
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

/** Pairs the output buffer holds at least (more when a right bucket is larger). */
const MIN_CAPACITY = 1 << 14;

/** Byte offsets of the kernel's arrays in wasm memory, sized for the plan's largest block. */
interface WasmLayout {
  lStart: number;
  rStart: number;
  occupied: number;
  masks: number;
  lWords: number;
  lOwner: number;
  rWords: number;
  rOwner: number;
  state: number;
  out: number;
  /** Memory needed with an output buffer of MIN_CAPACITY pairs. */
  bytes: number;
}

function wasmLayout(leftCount: number, rightCount: number, blocks: readonly IndexBlock[]): WasmLayout {
  const starts = Math.max(1, ...blocks.map((b) => 2 ** b.bits.length)) + 1;
  const masks = Math.max(1, ...blocks.map((b) => neighbourCount(b.bits.length, b.threshold)));
  let end = 0;
  const region = (bytes: number): number => {
    const at = end;
    end = alignUp(at + bytes, 8);
    return at;
  };
  const layout = {
    lStart: region(4 * starts),
    rStart: region(4 * starts),
    occupied: region(4 * Math.min(starts, leftCount)),
    masks: region(4 * masks),
    lWords: region(8 * leftCount),
    lOwner: region(4 * leftCount),
    rWords: region(8 * rightCount),
    rOwner: region(4 * rightCount),
    state: region(4 * STATE_INTS),
    out: end,
  };
  return { ...layout, bytes: layout.out + 4 * PAIR_INTS * MIN_CAPACITY };
}

function joinByWasm(left: HammingCodes, right: HammingCodes, radius: number, blocks: readonly IndexBlock[], ascending: boolean, sink: PairSink, layout: WasmLayout): void {
  const memory: WasmMemory = new wasmApi!.Memory({ initial: pagesFor(layout.bytes), maximum: MAX_PAGES });
  const join = joinKernel(memory)!;
  const nL = left.owner.length;
  const nR = right.owner.length;
  for (const block of blocks) {
    const bits = block.bits.length;
    const size = 2 ** bits;
    // Views are made afresh per block: growing memory below detaches the old ones.
    const buffer = memory.buffer;
    const L = { start: new Int32Array(buffer, layout.lStart, size + 1).fill(0), words: new Uint32Array(buffer, layout.lWords, 2 * nL), owner: new Int32Array(buffer, layout.lOwner, nL) };
    const R = { start: new Int32Array(buffer, layout.rStart, size + 1).fill(0), words: new Uint32Array(buffer, layout.rWords, 2 * nR), owner: new Int32Array(buffer, layout.rOwner, nR) };
    const { occupiedCount } = bucketize(left, block, L, new Int32Array(buffer, layout.occupied, Math.min(size + 1, nL)));
    const { largest } = bucketize(right, block, R);
    const masks = masksWithin(bits, block.threshold);
    new Int32Array(buffer, layout.masks, masks.length).set(masks);
    const capacity = Math.max(MIN_CAPACITY, largest);
    const needed = layout.out + 4 * PAIR_INTS * capacity;
    if (needed > memory.buffer.byteLength) memory.grow(pagesFor(needed - memory.buffer.byteLength));
    const state = new Int32Array(memory.buffer, layout.state, STATE_INTS);
    const out = new Int32Array(memory.buffer, layout.out, PAIR_INTS * capacity);
    state.set([0, 0, -1, 0]);
    do {
      join(layout.lStart, layout.lWords, layout.lOwner, layout.occupied, occupiedCount, layout.rStart, layout.rWords, layout.rOwner, layout.masks, masks.length, radius, ascending ? 1 : 0, layout.out, capacity, layout.state);
      for (let p = 0, n = state[3]; p < n; p++) sink(out[PAIR_INTS * p], out[PAIR_INTS * p + 1], out[PAIR_INTS * p + 2]);
    } while (state[0] < masks.length);
  }
}
