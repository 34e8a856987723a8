/**
 * The two passes of resample.ts as WebAssembly SIMD, for 3-channel images (every decoded image):
 *  1. vertical: each output row is Σ w_k · (source row k), 16 source bytes widened to four f32x4 per step,
 *     over just the columns the window needs;
 *  2. horizontal: each output pixel is Σ w_k · (pixel k) with one f32x4 holding R, G, B (and the next
 *     pixel's R, ignored), rounded half to even and saturated to 8 bits as Uint8ClampedArray does, stored
 *     as one 32-bit write whose fourth byte the next pixel overwrites.
 * Same taps as the TypeScript passes; only float32 summation differs, so a value can round the other way.
 */
import { alignUp, type Code, encodeModule, type FunctionSpec, I32, instantiate, op, pagesFor, V128, wasmApi, wasmSimdAvailable, type WasmMemory } from '../util/wasm-module.js';

/** For each output pixel along one axis: first input pixel, tap count, normalised weights (`stride` apart). */
export interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

const get = op.localGet;
const set = op.localSet;

/** `for (i = 0; i < end; i += step) body`, with i and end locals. */
function forLoop(i: number, end: number, step: number, body: Code): Code {
  return [
    op.i32Const(0),
    set(i),
    op.block(op.loop([get(i), get(end), op.i32GeS, op.brIf(1), body, get(i), op.i32Const(step), op.i32Add, set(i), op.br(0)])),
  ];
}

// vertical(src, srcRowBytes, bytesPerRow, first, count, weights, weightStrideBytes, rows, dst): dst zeroed beforehand.
const V = { src: 0, srcRowBytes: 1, bytesPerRow: 2, first: 3, count: 4, weights: 5, weightStride: 6, rows: 7, dst: 8 };
function emitVertical(): FunctionSpec {
  let next = 9;
  const [j, k, n, b, firstRow, dstRow, wPtr, rowPtr] = Array.from({ length: 8 }, () => next++);
  const [w, v, half] = [next++, next++, next++];
  const dstAddress: Code = [get(dstRow), get(b), op.i32Const(2), op.i32Shl, op.i32Add];
  /** dst[b*4 + offset] += w · lanes */
  const addInto = (offset: number, lanes: Code): Code => [dstAddress, dstAddress, op.v128Load(offset, 2), lanes, get(w), op.f32x4Mul, op.f32x4Add, op.v128Store(offset, 2)];
  const quarter = (from: Code, extend: Code): Code => [from, extend, op.f32x4ConvertI32x4U];
  const body: Code = forLoop(j, V.rows, 1, [
    get(V.first), get(j), op.i32Const(2), op.i32Shl, op.i32Add, op.i32Load(), set(firstRow), // index among the copied rows
    get(V.count), get(j), op.i32Const(2), op.i32Shl, op.i32Add, op.i32Load(), set(n),
    get(V.weights), get(j), get(V.weightStride), op.i32Mul, op.i32Add, set(wPtr),
    get(V.dst), get(j), get(V.bytesPerRow), op.i32Const(2), op.i32Shl, op.i32Mul, op.i32Add, set(dstRow),
    forLoop(k, n, 1, [
      get(wPtr), get(k), op.i32Const(2), op.i32Shl, op.i32Add, op.v128Load32Splat(), set(w),
      get(V.src), get(firstRow), get(k), op.i32Add, get(V.srcRowBytes), op.i32Mul, op.i32Add, set(rowPtr),
      forLoop(b, V.bytesPerRow, 16, [
        get(rowPtr), get(b), op.i32Add, op.v128Load(0, 0), set(v), // 16 source bytes
        get(v), op.i16x8ExtendLowI8x16U, set(half),
        addInto(0, quarter(get(half), op.i32x4ExtendLowI16x8U)),
        addInto(16, quarter(get(half), op.i32x4ExtendHighI16x8U)),
        get(v), op.i16x8ExtendHighI8x16U, set(half),
        addInto(32, quarter(get(half), op.i32x4ExtendLowI16x8U)),
        addInto(48, quarter(get(half), op.i32x4ExtendHighI16x8U)),
      ]),
    ]),
  ]);
  return { name: 'vertical', params: new Array(9).fill(I32), locals: [[8, I32], [3, V128]], body };
}

// horizontal(src, srcRowBytes, first, count, weights, weightStrideBytes, width, rows, dst, dstRowBytes)
const H = { src: 0, srcRowBytes: 1, first: 2, count: 3, weights: 4, weightStride: 5, width: 6, rows: 7, dst: 8, dstRowBytes: 9 };
function emitHorizontal(): FunctionSpec {
  let next = 10;
  const [j, i, k, n, srcRow, pixel, wPtr, dstRow] = Array.from({ length: 8 }, () => next++);
  const acc = next++;
  const body: Code = forLoop(j, H.rows, 1, [
    get(H.src), get(j), get(H.srcRowBytes), op.i32Mul, op.i32Add, set(srcRow),
    get(H.dst), get(j), get(H.dstRowBytes), op.i32Mul, op.i32Add, set(dstRow),
    forLoop(i, H.width, 1, [
      get(H.first), get(i), op.i32Const(2), op.i32Shl, op.i32Add, op.i32Load(), op.i32Const(12), op.i32Mul, get(srcRow), op.i32Add, set(pixel),
      get(H.count), get(i), op.i32Const(2), op.i32Shl, op.i32Add, op.i32Load(), set(n),
      get(H.weights), get(i), get(H.weightStride), op.i32Mul, op.i32Add, set(wPtr),
      op.v128Const(new Uint8Array(16)), set(acc),
      forLoop(k, n, 1, [
        get(acc),
        get(pixel), op.v128Load(0, 2),
        get(wPtr), op.v128Load32Splat(), op.f32x4Mul, op.f32x4Add, set(acc),
        get(pixel), op.i32Const(12), op.i32Add, set(pixel),
        get(wPtr), op.i32Const(4), op.i32Add, set(wPtr),
      ]),
      get(dstRow), get(i), op.i32Const(3), op.i32Mul, op.i32Add,
      get(acc), op.f32x4Nearest, op.i32x4TruncSatF32x4S, set(acc),
      get(acc), get(acc), op.i16x8NarrowI32x4S, set(acc),
      get(acc), get(acc), op.i8x16NarrowI16x8U, op.i32x4ExtractLane(0),
      op.i32Store(0, 0),
    ]),
  ]);
  return { name: 'horizontal', params: new Array(10).fill(I32), locals: [[8, I32], [1, V128]], body };
}

type Kernel = (...args: number[]) => void;
interface Compiled {
  memory: WasmMemory;
  vertical: Kernel;
  horizontal: Kernel;
}
let compiled: Compiled | null | undefined;

function compile(): Compiled | null {
  if (compiled === undefined) {
    if (!wasmApi || !wasmSimdAvailable()) compiled = null;
    else {
      const memory = new wasmApi.Memory({ initial: 1 });
      const kernels = instantiate(new wasmApi.Module(encodeModule([emitVertical(), emitHorizontal()])), memory) as Record<'vertical' | 'horizontal', Kernel>;
      compiled = { memory, ...kernels };
    }
  }
  return compiled;
}

export const wasmResampleAvailable = (): boolean => compile() !== null;

/**
 * Resamples rows [rowFirst, rowEnd) × columns [colFirst, colEnd) of an RGB image to the taps' output size.
 * `xs.first` / `ys.first` are absolute source coordinates. Returns the RGB bytes of the output.
 */
export function resampleRgbWasm(
  data: Uint8Array,
  width: number,
  rows: { first: number; end: number },
  cols: { first: number; end: number },
  xs: Taps,
  ys: Taps,
): Uint8Array {
  const kernels = compile();
  if (!kernels) throw new Error('WebAssembly SIMD is not available');
  const outW = xs.first.length;
  const outH = ys.first.length;
  const srcRowBytes = width * 3;
  const bytesPerRow = alignUp((cols.end - cols.first) * 3, 16);
  const align = (v: number) => alignUp(v, 16);
  // Layout: source rows (+16 read slack), vertical output (+16), output bytes (+4 write slack), taps.
  const srcAt = 0;
  const srcBytes = (rows.end - rows.first) * srcRowBytes;
  const midAt = align(srcAt + srcBytes + 32);
  const midRowBytes = bytesPerRow * 4;
  const outAt = align(midAt + outH * midRowBytes + 32);
  const outRowBytes = outW * 3;
  const tapsAt = align(outAt + outH * outRowBytes + 16);
  const yFirstAt = tapsAt;
  const yCountAt = align(yFirstAt + outH * 4);
  const yWeightsAt = align(yCountAt + outH * 4);
  const xFirstAt = align(yWeightsAt + ys.weights.length * 4);
  const xCountAt = align(xFirstAt + outW * 4);
  const xWeightsAt = align(xCountAt + outW * 4);
  const total = xWeightsAt + xs.weights.length * 4 + 16;
  const missing = pagesFor(total) - pagesFor(kernels.memory.buffer.byteLength);
  if (missing > 0) kernels.memory.grow(missing);
  const buffer = kernels.memory.buffer;
  const bytes = new Uint8Array(buffer);
  bytes.set(data.subarray(rows.first * srcRowBytes, rows.end * srcRowBytes), srcAt);
  new Float32Array(buffer, midAt, (outH * midRowBytes) / 4).fill(0);
  const i32 = new Int32Array(buffer);
  const f32 = new Float32Array(buffer);
  for (let j = 0; j < outH; j++) {
    i32[yFirstAt / 4 + j] = ys.first[j] - rows.first;
    i32[yCountAt / 4 + j] = ys.count[j];
  }
  for (let i = 0; i < outW; i++) {
    i32[xFirstAt / 4 + i] = xs.first[i] - cols.first;
    i32[xCountAt / 4 + i] = xs.count[i];
  }
  f32.set(ys.weights, yWeightsAt / 4);
  f32.set(xs.weights, xWeightsAt / 4);
  kernels.vertical(srcAt + cols.first * 3, srcRowBytes, bytesPerRow, yFirstAt, yCountAt, yWeightsAt, ys.stride * 4, outH, midAt);
  kernels.horizontal(midAt, midRowBytes, xFirstAt, xCountAt, xWeightsAt, xs.stride * 4, outW, outH, outAt, outRowBytes);
  return bytes.slice(outAt, outAt + outH * outRowBytes);
}
