/**
 * The EM pass of em-normal-equations.ts as WebAssembly SIMD (f64x2: two pixels per step), emitted
 * at run time for one kernel size N with every neighbour offset unrolled. Same float64 arithmetic;
 * only the summation order (two interleaved lanes, row by row) and exp() (the polynomial below,
 * within ~1 ulp) differ, so kernels match the TypeScript pass to ~1e-11.
 *
 * Each image row is done in two phases, so that both run from registers:
 *  1. E-step: residuals and weights of the row's pixels (weights to a scratch row), Σw, Σw·R²;
 *  2. M-step sums: for each neighbour i, one sweep over the row adds w·x_i·x_j to a tile of at
 *     most tileSize(N) accumulators (j ≥ i, and the centre pixel for XᵀWy), flushed to memory per row.
 */
import { copyChannel, kernelOffsets, type ChannelView, type PixelGrid, type ValueRange } from './em-channel.js';
import type { EStepParams, NormalEquationSums } from './em-normal-equations.js';
import {
  alignUp,
  type Code,
  encodeModule,
  F64,
  f64x2Bytes,
  type FunctionSpec,
  I32,
  i64x2Bytes,
  instantiate,
  op,
  pagesFor,
  V128,
  type ValueType,
  wasmApi,
  type WasmMemory,
} from '../util/wasm-module.js';

export { wasmSimdAvailable } from '../util/wasm-module.js';

/** One EM pass over a channel already copied into place. */
export type PassFunction = (kernel: Float64Array, params: EStepParams, sums: NormalEquationSums) => void;

/** A pass bound to one channel, and that channel's value range. */
export interface BoundPass {
  pass: PassFunction;
  range: ValueRange;
}

/** Largest N the unrolled SIMD pass is emitted for; larger kernels use the TypeScript pass. */
export const maxWasmKernelSize = 7;
/** Channels up to this size fit the pass's 32-bit addressing (as float64, with room to spare). */
export const maxWasmPixels = 2 ** 27;

/** Accumulators in memory, each f64x2 (two lanes, summed in JS): upper-triangle XᵀWX row by row, XᵀWy, Σw, Σw·R². */
function accumulatorCount(m: number): number {
  return (m * (m + 1)) / 2 + m + 2;
}

/** The pass's parameters: byte addresses and row geometry (i32), then the E-step's constants (f64). */
const PARAMS = {
  pixels: 0,
  stride: 1,
  x0: 2,
  x1: 3,
  y0: 4,
  y1: 5,
  kernel: 6,
  acc: 7,
  weights: 8,
  log2eOver2Var: 9,
  density: 10,
  p0: 11,
};
const PARAM_TYPES: ValueType[] = [...new Array<ValueType>(9).fill(I32), F64, F64, F64];
/**
 * Accumulators one M-step sweep keeps in registers. x64 has 16 vector registers and V8 hoists a
 * sweep's loads to its top, so larger tiles spill (measured on Zen 5: 6 is best for N = 3 and 5,
 * by ~20–35% over 10; 8 for N = 7).
 */
const tileSize = (n: number) => (n <= 5 ? 6 : 8);

/**
 * exp(−R²/2σ²) = 2^u with u = −R²·log2(e)/2σ²: 2^u = 2^n·2^f, n = round(u), f = u − n exact in
 * [−½, ½], 2^f = e^(f·ln2) by its Taylor series to degree 12 (error < 2e-16, as u's own rounding).
 */
const EXP2_DEGREE = 12;
/** Adding 1.5·2⁵² rounds to an integer held in the low mantissa bits (bits = 0x4338… + n). */
const ROUND_MAGIC = 6755399441055744;
/** Below this 2^u would be subnormal; such weights are set to 0 (numpy's are < 1e-305). */
const EXP2_MIN_ARG = -1021;

/** v128 loads and stores promise only 8-byte alignment (pixel pairs start at any pixel). */
const v128Load = (offset: number): Code => op.v128Load(offset, 3);
const v128Store = (offset: number): Code => op.v128Store(offset, 3);

function emitPass(n: number, weighted: boolean): FunctionSpec {
  const m = n * n - 1;
  // Rows and columns here count from the top-left neighbour (offset lo).
  const offsets = kernelOffsets(n);
  const lo = offsets[0];
  const taps: { row: number; col: number }[] = [];
  for (const dy of offsets) for (const dx of offsets) if (dx !== 0 || dy !== 0) taps.push({ row: dy - lo, col: dx - lo });
  const centreTap = { row: -lo, col: -lo };
  /** Column m of the tiles is the centre pixel y (for XᵀWy). */
  const tapOf = (j: number) => (j < m ? taps[j] : centreTap);
  const accIndex = (i: number, j: number) => (j < m ? i * m - (i * (i - 1)) / 2 + (j - i) : (m * (m + 1)) / 2 + i);

  let next = PARAM_TYPES.length;
  const locals = (count: number) => Array.from({ length: count }, () => next++);
  const [y, strideBytes, count, offset] = locals(4);
  const rows = locals(n);
  const i32Count = next - PARAM_TYPES.length;
  const firstV128 = next;
  const [residual, weight, t, tc, rounded, nf, sumW, sumWR2, wx] = locals(9);
  const powers = locals(4); // f, f², f⁴, f⁸
  const TILE = tileSize(n);
  const tile = locals(TILE);
  const constant = new Map<string, number>();
  const constLocal = (key: string) => {
    if (!constant.has(key)) constant.set(key, next++);
    return constant.get(key)!;
  };
  const constBytes = new Map<string, Uint8Array>();
  const splatConst = (v: number) => {
    const key = `f${v}`;
    constBytes.set(key, f64x2Bytes(v, v));
    return op.localGet(constLocal(key));
  };
  const bytesConst = (key: string, bytes: Uint8Array) => {
    constBytes.set(key, bytes);
    return op.localGet(constLocal(key));
  };

  const get = op.localGet;
  const set = op.localSet;
  /** Row pointers are fixed for the row; `offset` walks along it in pixel pairs (16 bytes). */
  const load = (tap: { row: number; col: number }): Code => [get(rows[tap.row]), get(offset), op.i32Add, v128Load(tap.col * 8)];
  const weightsAt: Code = [get(PARAMS.weights), get(offset), op.i32Add];

  /** Σ k_i·x_i as a balanced tree (short dependency chains). */
  const prediction = (from: number, to: number): Code => {
    if (to - from === 1) return [load(taps[from]), get(PARAMS.kernel), op.v128Load64Splat(from * 8), op.f64x2Mul];
    const mid = (from + to) >> 1;
    return [prediction(from, mid), prediction(mid, to), op.f64x2Add];
  };

  /** Σ c_k·f^k by Estrin's scheme: low half + high half·r^h, h the largest power of two below the length. */
  const polynomial = (coefficients: number[]): Code => {
    if (coefficients.length === 1) return splatConst(coefficients[0]);
    let h = 1;
    while (h * 2 < coefficients.length) h *= 2;
    return [polynomial(coefficients.slice(0, h)), polynomial(coefficients.slice(h)), get(powers[Math.log2(h)]), op.f64x2Mul, op.f64x2Add];
  };

  const weights = (lastOddPixel: boolean): Code => {
    const code: Code[] = [load(centreTap), prediction(0, m), op.f64x2Sub, set(residual)];
    if (!weighted) {
      code.push(bytesConst(lastOddPixel ? 'one0' : 'one1', f64x2Bytes(1, lastOddPixel ? 0 : 1)), set(weight));
    } else {
      // u = −R²·log2(e)/2σ²; P1 = 2^u·density; w = P1/(P1 + p0)
      code.push(get(residual), get(residual), op.f64x2Mul, get(constLocal('log2eOver2Var')), op.f64x2Mul, set(t));
      code.push(get(t), splatConst(EXP2_MIN_ARG), op.f64x2Pmax, op.localTee(tc)); // pmax: one instruction, u is never NaN
      code.push(splatConst(ROUND_MAGIC), op.f64x2Add, op.localTee(rounded), splatConst(ROUND_MAGIC), op.f64x2Sub, set(nf));
      code.push(get(tc), get(nf), op.f64x2Sub);
      code.push(op.localTee(powers[0]), get(powers[0]), op.f64x2Mul, op.localTee(powers[1]), get(powers[1]), op.f64x2Mul);
      code.push(op.localTee(powers[2]), get(powers[2]), op.f64x2Mul, set(powers[3]));
      const coefficients = [1];
      for (let k = 1; k <= EXP2_DEGREE; k++) coefficients.push((coefficients[k - 1] * Math.LN2) / k);
      code.push(polynomial(coefficients));
      // × 2^n, whose bits are (n + 1023) << 52
      code.push(get(rounded), bytesConst('bias', i64x2Bytes(1023n, 1023n)), op.i64x2Add, op.i32Const(52), op.i64x2Shl, op.f64x2Mul);
      code.push(get(t), splatConst(EXP2_MIN_ARG), op.f64x2Ge, op.v128And);
      code.push(get(constLocal('density')), op.f64x2Mul, op.localTee(t), get(t), get(constLocal('p0')), op.f64x2Add, op.f64x2Div);
      if (lastOddPixel) code.push(bytesConst('lane0', i64x2Bytes(-1n, 0n)), op.v128And);
      code.push(set(weight));
    }
    code.push(weightsAt, get(weight), v128Store(0));
    code.push(get(sumW), get(weight), op.f64x2Add, set(sumW));
    code.push(get(weight), get(residual), op.f64x2Mul, get(residual), op.f64x2Mul, get(sumWR2), op.f64x2Add, set(sumWR2));
    return code;
  };

  /** for (; count > 0; count--, offset += 16) body */
  const pairLoop = (body: Code): Code =>
    op.block(op.loop([
      get(count), op.i32Eqz, op.brIf(1),
      body,
      get(offset), op.i32Const(16), op.i32Add, set(offset),
      get(count), op.i32Const(1), op.i32Sub, set(count), op.br(0),
    ]));
  /** Pixel pairs in a row, the odd pixel's pair included or not. */
  const pairCount = (roundUp: boolean): Code => [
    get(PARAMS.x1), get(PARAMS.x0), op.i32Sub,
    roundUp ? [op.i32Const(1), op.i32Add] : [],
    op.i32Const(1), op.i32ShrU,
  ];

  const row = (): Code => {
    const code: Code[] = [];
    // rows[0] = &pixels[(y + lo)·stride + x0 + lo]: the top-left neighbour of the row's first pixel
    code.push(get(y), op.i32Const(lo), op.i32Add, get(PARAMS.stride), op.i32Mul, get(PARAMS.x0), op.i32Add);
    code.push(op.i32Const(lo), op.i32Add, op.i32Const(3), op.i32Shl, get(PARAMS.pixels), op.i32Add, set(rows[0]));
    for (let j = 1; j < n; j++) code.push(get(rows[j - 1]), get(strideBytes), op.i32Add, set(rows[j]));

    // Phase 1: weights of the row; an odd last pixel is paired with a masked-out neighbour.
    code.push(op.i32Const(0), set(offset), pairCount(false), set(count));
    code.push(pairLoop(weights(false)));
    code.push(get(PARAMS.x1), get(PARAMS.x0), op.i32Sub, op.i32Const(1), op.i32And, op.if(weights(true)));

    // Phase 2: tiles of XᵀWX and XᵀWy, sweeping the row's pixel pairs (the masked lane has w = 0).
    for (let i = 0; i < m; i++) {
      for (let j0 = i; j0 <= m; j0 += TILE) {
        const js = Array.from({ length: Math.min(TILE, m + 1 - j0) }, (_, k) => j0 + k);
        js.forEach((_, k) => code.push(get(constLocal('zero')), set(tile[k])));
        code.push(op.i32Const(0), set(offset), pairCount(true), set(count));
        code.push(pairLoop([
          weightsAt, v128Load(0), load(taps[i]), op.f64x2Mul, set(wx),
          js.map((j, k) => [get(tile[k]), get(wx), load(tapOf(j)), op.f64x2Mul, op.f64x2Add, set(tile[k])]),
        ]));
        js.forEach((j, k) => {
          const at = accIndex(i, j) * 16;
          code.push(get(PARAMS.acc), get(PARAMS.acc), v128Load(at), get(tile[k]), op.f64x2Add, v128Store(at));
        });
      }
    }
    return code;
  };

  const code: Code[] = [];
  code.push(get(PARAMS.stride), op.i32Const(3), op.i32Shl, set(strideBytes));
  code.push(bytesConst('zero', new Uint8Array(16)), set(sumW), get(constLocal('zero')), set(sumWR2));
  code.push(get(PARAMS.y0), set(y));
  code.push(op.block(op.loop([
    get(y), get(PARAMS.y1), op.i32GeS, op.brIf(1),
    row(),
    get(y), op.i32Const(1), op.i32Add, set(y), op.br(0),
  ])));
  const sumsOffset = accIndex(m - 1, m) * 16 + 16;
  code.push(get(PARAMS.acc), get(sumW), v128Store(sumsOffset), get(PARAMS.acc), get(sumWR2), v128Store(sumsOffset + 16));

  // Prologue, now that every constant is known: splat the f64 parameters, load the constants
  // into locals once (v128.const inside the loops would be rebuilt on every use).
  const prologue: Code[] = [];
  for (const [param, key] of [
    [PARAMS.log2eOver2Var, 'log2eOver2Var'],
    [PARAMS.density, 'density'],
    [PARAMS.p0, 'p0'],
  ] as const) {
    prologue.push(get(param), op.f64x2Splat, set(constLocal(key)));
  }
  for (const [key, bytes] of constBytes) prologue.push(op.v128Const(bytes), set(constLocal(key)));
  return {
    name: weighted ? 'weighted' : 'uniform',
    params: PARAM_TYPES,
    locals: [
      [i32Count, I32],
      [next - firstV128, V128],
    ],
    body: [prologue, code],
  };
}

type WasmFunction = (...args: number[]) => void;

interface CompiledPass {
  memory: WasmMemory;
  weighted: WasmFunction;
  uniform: WasmFunction;
}

const compiled = new Map<number, CompiledPass>();

function compile(n: number): CompiledPass {
  let pass = compiled.get(n);
  if (!pass) {
    if (!wasmApi) throw new Error('WebAssembly is not available');
    const bytes = encodeModule([emitPass(n, true), emitPass(n, false)]);
    const memory = new wasmApi.Memory({ initial: 1 });
    const { weighted, uniform } = instantiate(new wasmApi.Module(bytes), memory) as Record<'weighted' | 'uniform', WasmFunction>;
    pass = { memory, weighted, uniform };
    compiled.set(n, pass);
  }
  return pass;
}

/** Byte offsets in memory of the kernel, the accumulators, the scratch row of weights and the pixels. */
function layoutFor(m: number, width: number, pixelCount: number) {
  const align = (v: number) => alignUp(v, 16);
  const kernel = 16;
  const acc = align(kernel + m * 8);
  const weights = align(acc + accumulatorCount(m) * 16);
  const pixels = align(weights + (width + 2) * 8);
  // An odd last pixel is paired with the one after it, whose neighbours reach one past the end.
  return { kernel, acc, weights, pixels, bytes: pixels + pixelCount * 8 + 64 };
}

/**
 * Copies the channel into WebAssembly memory and returns its pass. The memory is shared by every
 * pass of this kernel size in this thread: only the most recently bound channel may be used.
 */
export function bindWasmPass(channel: ChannelView, grid: PixelGrid, n: number): BoundPass {
  const m = n * n - 1;
  const pass = compile(n);
  const pixelCount = grid.width * grid.height;
  const layout = layoutFor(m, grid.width, pixelCount);
  const missing = layout.bytes - pass.memory.buffer.byteLength;
  if (missing > 0) pass.memory.grow(pagesFor(missing));
  const range = copyChannel(channel, new Float64Array(pass.memory.buffer, layout.pixels, pixelCount));
  const lanes = accumulatorCount(m) * 2;
  const tri = (m * (m + 1)) / 2;
  const run: PassFunction = (kernel, params, sums) => {
    const buffer = pass.memory.buffer;
    new Float64Array(buffer, layout.kernel, m).set(kernel);
    const acc = new Float64Array(buffer, layout.acc, lanes);
    acc.fill(0);
    (params.uniformWeights ? pass.uniform : pass.weighted)(
      layout.pixels,
      grid.width,
      grid.x0,
      grid.x1,
      grid.y0,
      grid.y1,
      layout.kernel,
      layout.acc,
      layout.weights,
      (-0.5 * Math.LOG2E) / (params.sigma * params.sigma),
      1 / (params.sigma * Math.sqrt(2 * Math.PI)),
      params.p0,
    );
    const total = (q: number) => acc[2 * q] + acc[2 * q + 1];
    for (let i = 0, q = 0; i < m; i++) for (let j = i; j < m; j++) sums.gram[i * m + j] = total(q++);
    for (let i = 0; i < m; i++) sums.rhs[i] = total(tri + i);
    sums.sumW = total(tri + m);
    sums.sumWR2 = total(tri + m + 1);
  };
  return { pass: run, range };
}
