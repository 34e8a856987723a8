/**
 * The SIMD instructions the float32 EM pass (em-wasm32.ts) needs beyond util/wasm-module.ts's table,
 * encoded the same way (0xfd prefix, LEB128 opcode, then immediates).
 */
import { uleb } from '../util/wasm-module.js';

const simd = (opcode: number, ...immediates: number[]): number[] => [0xfd, ...uleb(opcode), ...immediates];

export const simdOp = {
  /** i8x16.shuffle with its 16 lane indices (0–15 pick from the first operand, 16–31 from the second). */
  i8x16Shuffle: (lanes: number[]): number[] => simd(0x0d, ...lanes),
  i32x4Splat: simd(0x11),
  i32x4LtS: simd(0x39),
  f32x4Ge: simd(0x46),
  f64x2PromoteLowF32x4: simd(0x5f),
  i32x4Shl: simd(0xab),
  i32x4Add: simd(0xae),
  f32x4Pmax: simd(0xeb),
};

/** Lanes 2 and 3 of an f32x4 moved to lanes 0 and 1 (for promoting the high half to f64x2). */
export const HIGH_HALF_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
