/**
 * The EM pass in float32 WebAssembly SIMD (f32x4: four pixels per step) for 8-bit channels, twice
 * the lanes of em-wasm.ts's float64 pass and a shorter exp(). It is accurate enough because it sums
 * centre differences, not pixels: with y the centre pixel and d_i = x_i − y its neighbours'
 * differences (small integers, exact in float32),
 *
 *   Σw·x_i·x_j = S + T_i + T_j + D_ij,   Σw·x_i·y = S + T_i,   R = y·(1 − Σk) − Σk_i·d_i,
 *   S = Σw·y²,  T_i = Σw·y·d_i,  D_ij = Σw·d_i·d_j.
 *
 * XᵀWX is ill-conditioned (all neighbours ≈ the same grey level), so rounding errors of float32
 * sums of x_i·x_j reach the kernel amplified ~10⁵ times (3e-5 measured). The large sums S and T_i
 * only move XᵀWX along the all-ones direction (where it is well conditioned) and the products in
 * D_ij are small, so the same float32 arithmetic moves kernels by < 1e-6. Float32 sums are also
 * kept short: every image row's partial sums are added into float64 accumulators.
 *
 * Each row is done in two phases (as in em-wasm.ts):
 *  1. E-step per quad of pixels: d_i, y and the weight w to a scratch block, Σw, Σw·R², S;
 *  2. M-step sums: for each i, sweeps over the row's blocks add (w·d_i)·d_j (j ≥ i, and y for T_i)
 *     to a tile of tileSize accumulators.
 */
import { kernelOffsets, type ChannelView, type PixelGrid, type ValueRange } from './em-channel.js';
import {
  float32AccumulatorCount as accumulatorCount,
  float32Declines,
  float32EStepConstants,
  sumsFromFloat32Totals,
  writeFloat32Kernel,
  type Float32PassFunction,
} from './em-float32.js';
import { HIGH_HALF_TO_LOW, simdOp } from './em-wasm-ops.js';
import {
  alignUp,
  type Code,
  encodeModule,
  F32,
  type FunctionSpec,
  I32,
  instantiate,
  op,
  pagesFor,
  V128,
  type ValueType,
  wasmApi,
  type WasmMemory,
} from '../util/wasm-module.js';

/**
 * Wider channels are passed in stripes of this many columns, so no float32 row sum adds more than
 * 128 terms per lane before it reaches float64 (300-pixel faces take one stripe).
 */
const MAX_STRIPE = 512;

const EXP2_MIN_ARG = -100;
/**
 * 2^f on [−½, ½]: a degree-5 polynomial fitted for least maximum relative error (7.5e-8, about
 * float32's own rounding; Taylor needs degree 7 for that).
 */
const EXP2_COEFFICIENTS = [
  1.0000000716546553, 0.6931469670638646, 0.2402211972393382, 0.05550713274960176, 0.00967554133068938, 0.001327647151988963,
];
/** Adding 1.5·2²³ rounds to an integer held in the low mantissa bits (bits = 0x4B400000 + n). */
const ROUND_MAGIC = 12582912;
const EXPONENT_REBIAS = 127 - 0x4b400000;

const PARAMS = { pixels: 0, stride: 1, x0: 2, x1: 3, y0: 4, y1: 5, kernel: 6, acc: 7, scratch: 8, log2eOver2Var: 9, density: 10, p0: 11 };
const PARAM_TYPES: ValueType[] = [...new Array<ValueType>(9).fill(I32), F32, F32, F32];
/**
 * Phase 2's register tiles: TILE_ROWS values of i × TILE_COLS values of j (entries j ≥ i only), so
 * one load of d_j serves several accumulators. x64 has 16 vector registers and V8 hoists a sweep's
 * loads to its top, so larger tiles spill; on Xeon (Sapphire Rapids class) 1×6, 2×4, 2×5 and 3×3
 * ran within 3% of each other, 2×2 and 1×3 13% slower.
 */
const TILE_ROWS = 2;
const TILE_COLS = 4;

interface Tile {
  rows: number[];
  cols: number[];
  /** (i, j) pairs, j ≥ i. */
  entries: [number, number][];
}

/** Covers the upper triangle of XᵀWX plus column m (XᵀWy) with tiles. */
function tilesFor(m: number): Tile[] {
  const tiles: Tile[] = [];
  for (let i0 = 0; i0 < m; i0 += TILE_ROWS) {
    const rows = Array.from({ length: Math.min(TILE_ROWS, m - i0) }, (_, r) => i0 + r);
    for (let j0 = i0; j0 <= m; j0 += TILE_COLS) {
      const cols = Array.from({ length: Math.min(TILE_COLS, m + 1 - j0) }, (_, c) => j0 + c);
      const entries = rows.flatMap((i) => cols.filter((j) => j >= i).map((j): [number, number] => [i, j]));
      const used = rows.filter((i) => entries.some(([ii]) => ii === i));
      tiles.push({ rows: used, cols, entries });
    }
  }
  return tiles;
}

/** Unaligned f32x4 loads and stores (pixel quads start at any pixel). */
const load = (offset: number): Code => op.v128Load(offset, 2);
const store = (offset: number): Code => op.v128Store(offset, 2);

function emitPass(n: number): FunctionSpec {
  const m = n * n - 1;
  const offsets = kernelOffsets(n);
  const lo = offsets[0];
  const taps: { row: number; col: number }[] = [];
  for (const dy of offsets) for (const dx of offsets) if (dx !== 0 || dy !== 0) taps.push({ row: dy - lo, col: dx - lo });
  const centreTap = { row: -lo, col: -lo };
  /** A scratch block per quad: d_0 … d_{m−1}, y, w (16 bytes each). */
  const yAt = m * 16;
  const wAt = (m + 1) * 16;
  const blockBytes = (m + 2) * 16;
  const tri = (m * (m + 1)) / 2;
  const accIndex = (i: number, j: number) => (j < m ? i * m - (i * (i - 1)) / 2 + (j - i) : tri + i);
  const SUM_W = tri + m;
  const SUM_WR2 = tri + m + 1;
  const SUM_YY = tri + m + 2;

  let next = PARAM_TYPES.length;
  const locals = (count: number) => Array.from({ length: count }, () => next++);
  const [y, strideBytes, count, offset, ptr, width] = locals(6);
  const rows = locals(n);
  const i32Count = next - PARAM_TYPES.length;
  const firstV128 = next;
  const [sumW, sumWR2, sumYY] = locals(3);
  const phase2Tiles = tilesFor(m);
  const tile = locals(Math.max(...phase2Tiles.map((t) => t.entries.length)));
  const wds = locals(Math.max(...phase2Tiles.map((t) => t.rows.length)));
  const dj = locals(1)[0];
  const constant = new Map<string, number>();
  const constLocal = (key: string) => {
    if (!constant.has(key)) constant.set(key, next++);
    return constant.get(key)!;
  };
  const constInit = new Map<string, Code>();
  const splatConst = (v: number) => {
    const key = `f${v}`;
    constInit.set(key, [op.f32Const(v), op.f32x4Splat]);
    return op.localGet(constLocal(key));
  };
  const i32SplatConst = (v: number) => {
    const key = `i${v}`;
    constInit.set(key, [op.i32Const(v), simdOp.i32x4Splat]);
    return op.localGet(constLocal(key));
  };

  const get = op.localGet;
  const set = op.localSet;
  const tee = op.localTee;
  const kernelSplat = (i: number): Code => [get(PARAMS.kernel), op.v128Load32Splat(i * 4)];

  /** Adds an f32x4 register's four lanes into f64x2 accumulator q (two lanes, summed in JS). */
  const flush = (register: number, q: number): Code => {
    const at = q * 16;
    return [
      get(PARAMS.acc),
      get(PARAMS.acc), op.v128Load(at, 3),
      get(register), simdOp.f64x2PromoteLowF32x4,
      get(register), get(register), simdOp.i8x16Shuffle(HIGH_HALF_TO_LOW), simdOp.f64x2PromoteLowF32x4,
      op.f64x2Add, op.f64x2Add, op.v128Store(at, 3),
    ];
  };

  /** One quad's E-step registers (two quads in flight use two sets). */
  const quadLocals = () => {
    const [yv, d, predA, predB, residual, weight, u, rounded, clamped] = locals(9);
    return { yv, d, predA, predB, residual, weight, u, rounded, clamped, powers: locals(3) /* f, f², f⁴ */ };
  };
  type QuadLocals = ReturnType<typeof quadLocals>;

  /**
   * Phase 1 for quad q after `offset` (pixels) / `ptr` (scratch), as stack-neutral statements so that
   * two quads' statements can be interleaved: the out-of-order core then sees two independent
   * dependency chains in its window (10% faster than one quad per step). `partial`: mask the lanes past x1.
   */
  const eStep = (L: QuadLocals, q: number, partial: boolean): Code[] => {
    const at = q * blockBytes;
    const tapAt = (tap: { row: number; col: number }): Code => [get(rows[tap.row]), get(offset), op.i32Add, load(tap.col * 4 + q * 16)];
    const polynomial = (coefficients: number[]): Code => {
      if (coefficients.length === 1) return splatConst(coefficients[0]);
      let h = 1;
      while (h * 2 < coefficients.length) h *= 2;
      return [polynomial(coefficients.slice(0, h)), polynomial(coefficients.slice(h)), get(L.powers[Math.log2(h)]), op.f32x4Mul, op.f32x4Add];
    };
    const code: Code[] = [[tapAt(centreTap), set(L.yv)], [get(ptr), get(L.yv), store(at + yAt)]];
    // d_i to the block, and Σk_i·d_i in two chains
    taps.forEach((tap, i) => {
      const acc = i % 2 ? L.predB : L.predA;
      code.push([tapAt(tap), get(L.yv), op.f32x4Sub, set(L.d)], [get(ptr), get(L.d), store(at + i * 16)]);
      if (i < 2) code.push([get(L.d), kernelSplat(i), op.f32x4Mul, set(acc)]);
      else code.push([get(acc), get(L.d), kernelSplat(i), op.f32x4Mul, op.f32x4Add, set(acc)]);
    });
    // R = y·(1 − Σk) − Σk_i·d_i
    code.push([get(L.yv), kernelSplat(m), op.f32x4Mul, get(L.predA), op.f32x4Sub, m > 1 ? [get(L.predB), op.f32x4Sub] : [], set(L.residual)]);
    // u = −R²·log2(e)/2σ²; 2^u = 2^n·2^f with n = round(u), f = u − n; P1 = 2^u·density; w = P1/(P1 + p0)
    code.push([get(L.residual), get(L.residual), op.f32x4Mul, get(constLocal('log2eOver2Var')), op.f32x4Mul, set(L.u)]);
    code.push([get(L.u), splatConst(EXP2_MIN_ARG), simdOp.f32x4Pmax, set(L.clamped)]);
    code.push([get(L.clamped), splatConst(ROUND_MAGIC), op.f32x4Add, set(L.rounded)]);
    code.push([get(L.clamped), get(L.rounded), splatConst(ROUND_MAGIC), op.f32x4Sub, op.f32x4Sub, set(L.powers[0])]);
    code.push([get(L.powers[0]), get(L.powers[0]), op.f32x4Mul, set(L.powers[1])]);
    code.push([get(L.powers[1]), get(L.powers[1]), op.f32x4Mul, set(L.powers[2])]);
    code.push([polynomial(EXP2_COEFFICIENTS), set(L.weight)]);
    code.push([get(L.weight), get(L.rounded), i32SplatConst(EXPONENT_REBIAS), simdOp.i32x4Add, op.i32Const(23), simdOp.i32x4Shl, op.f32x4Mul, set(L.weight)]);
    code.push([get(L.weight), get(L.u), splatConst(EXP2_MIN_ARG), simdOp.f32x4Ge, op.v128And, get(constLocal('density')), op.f32x4Mul, set(L.weight)]);
    code.push([get(L.weight), get(L.weight), get(constLocal('p0')), op.f32x4Add, op.f32x4Div, partial ? [get(constLocal('tailMask')), op.v128And] : [], set(L.weight)]);
    code.push([get(ptr), get(L.weight), store(at + wAt)]);
    code.push([get(sumW), get(L.weight), op.f32x4Add, set(sumW)]);
    code.push([get(L.weight), get(L.residual), op.f32x4Mul, get(L.residual), op.f32x4Mul, get(sumWR2), op.f32x4Add, set(sumWR2)]);
    code.push([get(L.weight), get(L.yv), op.f32x4Mul, get(L.yv), op.f32x4Mul, get(sumYY), op.f32x4Add, set(sumYY)]);
    return code;
  };
  const quadA = quadLocals();
  const quadB = quadLocals();
  /** Two quads' statements, alternating. */
  const interleaved = (a: Code[], b: Code[]): Code[] => a.flatMap((statement, i) => [statement, b[i]]);

  /** for (; count > 0; count--) { body; ptr += quads·blockBytes; offset += quads·16 } */
  const quadLoop = (body: Code, advanceOffset: boolean, quads = 1): Code =>
    op.block(op.loop([
      get(count), op.i32Eqz, op.brIf(1),
      body,
      get(ptr), op.i32Const(quads * blockBytes), op.i32Add, set(ptr),
      advanceOffset ? [get(offset), op.i32Const(quads * 16), op.i32Add, set(offset)] : [],
      get(count), op.i32Const(1), op.i32Sub, set(count), op.br(0),
    ]));

  const row = (): Code => {
    const code: Code[] = [];
    // rows[0] = &pixels[(y + lo)·stride + x0 + lo]
    code.push(get(y), op.i32Const(lo), op.i32Add, get(PARAMS.stride), op.i32Mul, get(PARAMS.x0), op.i32Add);
    code.push(op.i32Const(lo), op.i32Add, op.i32Const(2), op.i32Shl, get(PARAMS.pixels), op.i32Add, set(rows[0]));
    for (let j = 1; j < n; j++) code.push(get(rows[j - 1]), get(strideBytes), op.i32Add, set(rows[j]));

    code.push(get(constLocal('zero')), tee(sumW), tee(sumWR2), set(sumYY));
    // Phase 1: pairs of whole quads, then an odd whole quad, then the partial quad at the row's end.
    code.push(op.i32Const(0), set(offset), get(PARAMS.scratch), set(ptr), get(width), op.i32Const(3), op.i32ShrU, set(count));
    code.push(quadLoop(interleaved(eStep(quadA, 0, false), eStep(quadB, 1, false)), true, 2));
    code.push(get(width), op.i32Const(4), op.i32And, op.if([eStep(quadA, 0, false), get(ptr), op.i32Const(blockBytes), op.i32Add, set(ptr), get(offset), op.i32Const(16), op.i32Add, set(offset)]));
    code.push(get(width), op.i32Const(3), op.i32And, op.if(eStep(quadA, 0, true)));
    code.push(flush(sumW, SUM_W), flush(sumWR2, SUM_WR2), flush(sumYY, SUM_YY));

    for (const block of phase2Tiles) {
      block.entries.forEach((_, k) => code.push(get(constLocal('zero')), set(tile[k])));
      code.push(get(PARAMS.scratch), set(ptr), get(width), op.i32Const(3), op.i32Add, op.i32Const(2), op.i32ShrU, set(count));
      code.push(quadLoop([
        block.rows.map((i, r) => [get(ptr), op.v128Load(wAt), get(ptr), op.v128Load(i * 16), op.f32x4Mul, set(wds[r])]),
        block.cols.map((j) => [
          get(ptr), op.v128Load(j < m ? j * 16 : yAt), set(dj),
          block.entries.map(([i, jj], k) => (jj === j ? [get(tile[k]), get(wds[block.rows.indexOf(i)]), get(dj), op.f32x4Mul, op.f32x4Add, set(tile[k])] : [])),
        ]),
      ], false));
      block.entries.forEach(([i, j], k) => code.push(flush(tile[k], accIndex(i, j))));
    }
    return code;
  };

  const body: Code[] = [];
  body.push(get(PARAMS.stride), op.i32Const(2), op.i32Shl, set(strideBytes));
  body.push(get(PARAMS.x1), get(PARAMS.x0), op.i32Sub, set(width));
  body.push(get(PARAMS.y0), set(y));
  body.push(op.block(op.loop([
    get(y), get(PARAMS.y1), op.i32GeS, op.brIf(1),
    row(),
    get(y), op.i32Const(1), op.i32Add, set(y), op.br(0),
  ])));

  // Prologue: the parameters splatted, constants built once (v128.const in a loop is rebuilt per use),
  // and the mask of the lanes of a row's last, partial quad that lie inside the row.
  constLocal('zero');
  constInit.set('zero', [op.f32Const(0), op.f32x4Splat]);
  const prologue: Code[] = [];
  for (const [param, key] of [
    [PARAMS.log2eOver2Var, 'log2eOver2Var'],
    [PARAMS.density, 'density'],
    [PARAMS.p0, 'p0'],
  ] as const) {
    prologue.push(get(param), op.f32x4Splat, set(constLocal(key)));
  }
  const laneIndex = new Uint8Array(new Int32Array([0, 1, 2, 3]).buffer);
  prologue.push(op.v128Const(laneIndex), get(PARAMS.x1), get(PARAMS.x0), op.i32Sub, op.i32Const(3), op.i32And);
  prologue.push(simdOp.i32x4Splat, simdOp.i32x4LtS, set(constLocal('tailMask')));
  for (const [key, init] of constInit) prologue.push(init, set(constLocal(key)));
  return {
    name: 'weighted',
    params: PARAM_TYPES,
    locals: [
      [i32Count, I32],
      [next - firstV128, V128],
    ],
    body: [prologue, body],
  };
}

type WasmFunction = (...args: number[]) => void;

interface CompiledPass {
  memory: WasmMemory;
  weighted: WasmFunction;
}

const compiled = new Map<number, CompiledPass>();

function compile(n: number): CompiledPass {
  let pass = compiled.get(n);
  if (!pass) {
    if (!wasmApi) throw new Error('WebAssembly is not available');
    const memory = new wasmApi.Memory({ initial: 1 });
    const { weighted } = instantiate(new wasmApi.Module(encodeModule([emitPass(n)])), memory) as { weighted: WasmFunction };
    pass = { memory, weighted };
    compiled.set(n, pass);
  }
  return pass;
}

/** Byte offsets of the kernel (m weights, then 1 − Σk), the accumulators, the row's scratch blocks and the pixels. */
function layoutFor(m: number, interiorWidth: number, pixelCount: number) {
  const align = (v: number) => alignUp(v, 16);
  const kernel = 16;
  const acc = align(kernel + (m + 1) * 4);
  const scratch = align(acc + accumulatorCount(m) * 16);
  const pixels = align(scratch + (Math.ceil(interiorWidth / 4) + 1) * (m + 2) * 16);
  // A row's last quad reads up to three pixels past the interior, at most 12 bytes past the channel.
  return { kernel, acc, scratch, pixels, bytes: pixels + pixelCount * 4 + 64 };
}

/** The 8-bit channel as float32 into `out`, and its range. */
function copyBytes(view: ChannelView & { data: Uint8Array }, out: Float32Array): ValueRange {
  const { data, offset, step } = view;
  let min = 255;
  let max = 0;
  for (let i = 0, j = offset; i < out.length; i++, j += step) {
    const v = data[j];
    out[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * Copies an 8-bit channel into WebAssembly memory as float32 and returns its pass. The memory is
 * shared by every pass of this kernel size in this thread: only the most recently bound channel
 * may be used.
 */
export function bindFloat32Pass(channel: ChannelView, grid: PixelGrid, n: number): { pass: Float32PassFunction; range: ValueRange } {
  if (!(channel.data instanceof Uint8Array)) throw new Error('the float32 EM pass takes 8-bit channels only');
  const m = n * n - 1;
  const pass = compile(n);
  const pixelCount = grid.width * grid.height;
  const layout = layoutFor(m, Math.min(grid.x1 - grid.x0, MAX_STRIPE), pixelCount);
  const missing = layout.bytes - pass.memory.buffer.byteLength;
  if (missing > 0) pass.memory.grow(pagesFor(missing));
  const range = copyBytes(channel as ChannelView & { data: Uint8Array }, new Float32Array(pass.memory.buffer, layout.pixels, pixelCount));
  const lanes = accumulatorCount(m) * 2;
  const run: Float32PassFunction = (kernel, params, sums) => {
    if (float32Declines(params)) return false;
    const buffer = pass.memory.buffer;
    writeFloat32Kernel(kernel, new Float32Array(buffer, layout.kernel, m + 1));
    const acc = new Float64Array(buffer, layout.acc, lanes);
    acc.fill(0);
    const { log2eOver2Var, density } = float32EStepConstants(params.sigma);
    for (let x0 = grid.x0; x0 < grid.x1; x0 += MAX_STRIPE) {
      const x1 = Math.min(x0 + MAX_STRIPE, grid.x1);
      pass.weighted(layout.pixels, grid.width, x0, x1, grid.y0, grid.y1, layout.kernel, layout.acc, layout.scratch, log2eOver2Var, density, params.p0);
    }
    // Each accumulator is an f64x2: its two lanes together.
    return sumsFromFloat32Totals((q) => acc[2 * q] + acc[2 * q + 1], m, sums);
  };
  return { pass: run, range };
}
