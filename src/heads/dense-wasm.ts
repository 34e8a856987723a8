import type { AdamWCoefficients } from './optim.js';
import { adamwUpdate } from './optim.js';
import type { DenseBackend } from './dense-backend.js';
import type { FloatArray } from './dense-math.js';
import { alignUp, type Code, encodeModule, F32, I32, instantiate, MAX_PAGES, op, pagesFor, V128, wasmApi, wasmSimdAvailable } from '../util/wasm-module.js';

export { wasmSimdAvailable } from '../util/wasm-module.js';

/**
 * WebAssembly SIMD (f32x4) versions of the two hot loops: `gemm` and the AdamW update.
 * V8 does not auto-vectorise JavaScript; on this project's 2-core AMD EPYC box the wasm gemm
 * runs at 30–36 GFLOP per CPU second against ~4.3 for the register-tiled JS kernel
 * (`bench/heads-bench.ts` prints both). A 6-row tile spilled registers and ran slower than 4×8. Arrays must come from the backend's `alloc`, which hands
 * out views on one wasm memory of a fixed size chosen up front: growing a memory would detach the
 * views already handed out, and a shared (non-detaching) memory is invisible to V8's GC heuristics,
 * so dropped networks piled up gigabytes before a collection ran.
 */

const ALIGN_BYTES = 64; // one cache line

/** Bytes an arena needs to hand out arrays of these lengths (each 64-byte aligned). */
export function arenaBytes(lengths: number[]): number {
  return lengths.reduce((sum, length) => sum + alignUp(length * 4, ALIGN_BYTES), 0);
}

// gemm(a, aRow, aCol, b, ldb, c, ldc, m, n, k): pointers and strides in bytes.
const G = {
  a: 0, aRow: 1, aCol: 2, b: 3, ldb: 4, c: 5, ldc: 6, m: 7, n: 8, k: 9,
  i: 10, j: 11, p: 12, pa: 13, pb: 14, cRow: 15, nBytes: 16, aRow2: 17, aRow3: 18, ldc2: 19, ldc3: 20,
  b0: 21, b1: 22, av: 23, acc: 24, // acc..acc+7 are v128
  bs: 32, as: 33, sacc: 34, // sacc..sacc+3 are f32
};

type TileWidth = 8 | 4 | 1;

/** One register tile: `rows` rows × `width` columns of C, accumulated over all k. */
function gemmTile(rows: 4 | 1, width: TileWidth): Code {
  const scalar = width === 1;
  const vectors = width === 8 ? 2 : 1;
  const acc = (r: number, v: number): number => (scalar ? G.sacc + r : G.acc + r * vectors + v);
  const rowOffset = [[], [op.localGet(G.aRow), op.i32Add], [op.localGet(G.aRow2), op.i32Add], [op.localGet(G.aRow3), op.i32Add]];
  const cRowOffset = [[], [op.localGet(G.ldc), op.i32Add], [op.localGet(G.ldc2), op.i32Add], [op.localGet(G.ldc3), op.i32Add]];
  const code: Code[] = [];
  for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) code.push(scalar ? op.f32Const(0) : op.v128Const(new Uint8Array(16)), op.localSet(acc(r, v)));
  code.push(op.localGet(G.a), op.localGet(G.i), op.localGet(G.aRow), op.i32Mul, op.i32Add, op.localSet(G.pa));
  code.push(op.localGet(G.b), op.localGet(G.j), op.i32Add, op.localSet(G.pb));
  code.push(op.localGet(G.k), op.localSet(G.p));
  const step: Code[] = [];
  if (scalar) step.push(op.localGet(G.pb), op.f32Load(), op.localSet(G.bs));
  else {
    step.push(op.localGet(G.pb), op.v128Load(0), op.localSet(G.b0));
    if (vectors === 2) step.push(op.localGet(G.pb), op.v128Load(16), op.localSet(G.b1));
  }
  for (let r = 0; r < rows; r++) {
    step.push(op.localGet(G.pa), rowOffset[r]);
    step.push(scalar ? [op.f32Load(), op.localSet(G.as)] : [op.v128Load32Splat(), op.localSet(G.av)]);
    for (let v = 0; v < vectors; v++) {
      const mul = scalar ? op.f32Mul : op.f32x4Mul;
      const add = scalar ? op.f32Add : op.f32x4Add;
      const bLocal = scalar ? G.bs : v === 0 ? G.b0 : G.b1;
      step.push(op.localGet(acc(r, v)), op.localGet(scalar ? G.as : G.av), op.localGet(bLocal), mul, add, op.localSet(acc(r, v)));
    }
  }
  step.push(op.localGet(G.pa), op.localGet(G.aCol), op.i32Add, op.localSet(G.pa));
  step.push(op.localGet(G.pb), op.localGet(G.ldb), op.i32Add, op.localSet(G.pb));
  step.push(op.localGet(G.p), op.i32Const(-1), op.i32Add, op.localTee(G.p), op.brIf(0));
  code.push(op.loop(step));
  code.push(op.localGet(G.c), op.localGet(G.i), op.localGet(G.ldc), op.i32Mul, op.i32Add, op.localGet(G.j), op.i32Add, op.localSet(G.cRow));
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < vectors; v++) {
      code.push(op.localGet(G.cRow), cRowOffset[r], op.localGet(acc(r, v)), scalar ? op.f32Store() : op.v128Store(16 * v));
    }
  }
  return code;
}

/** `while (counter + stride <= limit) { body; counter += stride }` */
function whileFits(counter: number, stride: number, limit: number, body: Code): Code {
  return op.block(op.loop([
    op.localGet(counter), op.i32Const(stride), op.i32Add, op.localGet(limit), op.i32GtS, op.brIf(1),
    body,
    op.localGet(counter), op.i32Const(stride), op.i32Add, op.localSet(counter), op.br(0),
  ]));
}

/**
 * Column panels outermost: one panel of B (k × 8 floats, 40 KB for k = 1280) stays in L1/L2 while
 * every row block of A streams past it, instead of re-reading all of B from L3 for each row block.
 */
function gemmColumnPanel(width: TileWidth): Code {
  return [
    op.i32Const(0), op.localSet(G.i),
    whileFits(G.i, 4, G.m, gemmTile(4, width)),
    whileFits(G.i, 1, G.m, gemmTile(1, width)),
  ];
}

function gemmBody(): Code {
  const times = (local: number, factor: number): Code => [op.localGet(local), op.i32Const(factor), op.i32Mul];
  return [
    times(G.n, 4), op.localSet(G.nBytes),
    times(G.aRow, 2), op.localSet(G.aRow2),
    times(G.aRow, 3), op.localSet(G.aRow3),
    times(G.ldc, 2), op.localSet(G.ldc2),
    times(G.ldc, 3), op.localSet(G.ldc3),
    op.i32Const(0), op.localSet(G.j),
    whileFits(G.j, 32, G.nBytes, gemmColumnPanel(8)),
    whileFits(G.j, 16, G.nBytes, gemmColumnPanel(4)),
    whileFits(G.j, 4, G.nBytes, gemmColumnPanel(1)),
  ];
}

// adamw(p, g, m, v, count, decay, stepSize, beta1, beta2, denomScale, eps): pointers in bytes; count floats, a multiple of 4.
const A = { p: 0, g: 1, m: 2, v: 3, count: 4, decay: 5, stepSize: 6, beta1: 7, beta2: 8, denomScale: 9, eps: 10, off: 11, gv: 12, mv: 13, vv: 14 };

function adamwBody(): Code {
  const splat = (local: number): Code => [op.localGet(local), op.f32x4Splat];
  const at = (base: number): Code => [op.localGet(base), op.localGet(A.off), op.i32Add];
  const oneMinus = (local: number): Code => [op.f32Const(1), op.localGet(local), op.f32Sub];
  return [
    op.i32Const(0), op.localSet(A.off),
    op.block(op.loop([
      op.localGet(A.off), op.i32Const(16), op.i32Add, op.localGet(A.count), op.i32Const(4), op.i32Mul, op.i32GtS, op.brIf(1),
      at(A.g), op.v128Load(), op.localSet(A.gv),
      // m = beta1·m + (1 − beta1)·g
      at(A.m), splat(A.beta1), at(A.m), op.v128Load(), op.f32x4Mul, oneMinus(A.beta1), op.f32x4Splat, op.localGet(A.gv), op.f32x4Mul, op.f32x4Add,
      op.localTee(A.mv), op.v128Store(),
      // v = beta2·v + (1 − beta2)·g²
      at(A.v), splat(A.beta2), at(A.v), op.v128Load(), op.f32x4Mul, oneMinus(A.beta2), op.f32x4Splat, op.localGet(A.gv), op.localGet(A.gv), op.f32x4Mul, op.f32x4Mul, op.f32x4Add,
      op.localTee(A.vv), op.v128Store(),
      // p = p·decay − stepSize·m / (sqrt(v)·denomScale + eps)
      at(A.p),
      at(A.p), op.v128Load(), splat(A.decay), op.f32x4Mul,
      splat(A.stepSize), op.localGet(A.mv), op.f32x4Mul,
      op.localGet(A.vv), op.f32x4Sqrt, splat(A.denomScale), op.f32x4Mul, splat(A.eps), op.f32x4Add,
      op.f32x4Div, op.f32x4Sub,
      op.v128Store(),
      op.localGet(A.off), op.i32Const(16), op.i32Add, op.localSet(A.off), op.br(0),
    ])),
  ];
}

let compiled: object | null | undefined;

function kernelModule(): object | null {
  if (compiled !== undefined) return compiled;
  if (!wasmApi || !wasmSimdAvailable()) return (compiled = null); // callers fall back to JS
  const bytes = encodeModule([
    { name: 'gemm', params: new Array<typeof I32>(10).fill(I32), locals: [[11, I32], [11, V128], [6, F32]], body: gemmBody() },
    { name: 'adamw', params: [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32], locals: [[1, I32], [3, V128]], body: adamwBody() },
  ], { maxPages: MAX_PAGES });
  return (compiled = new wasmApi.Module(bytes));
}

interface Kernels {
  gemm(a: number, aRow: number, aCol: number, b: number, ldb: number, c: number, ldc: number, m: number, n: number, k: number): void;
  adamw(p: number, g: number, m: number, v: number, count: number, decay: number, stepSize: number, beta1: number, beta2: number, denomScale: number, eps: number): void;
}

/**
 * A backend whose arrays live in its own wasm memory of `capacityBytes` (see `arenaBytes`); null
 * when this runtime lacks wasm SIMD.
 */
export function createWasmBackend(capacityBytes: number): DenseBackend | null {
  const module = kernelModule();
  if (!module || !wasmApi) return null;
  const pages = Math.max(1, pagesFor(ALIGN_BYTES + capacityBytes));
  if (pages > MAX_PAGES) throw new Error(`wasm backend: ${capacityBytes} bytes exceed the 4 GiB a wasm memory can hold`);
  const memory = new wasmApi.Memory({ initial: pages, maximum: pages });
  const kernels = instantiate(module, memory) as Kernels;
  const buffer = memory.buffer;
  let top = ALIGN_BYTES; // address 0 stays unused

  const pointer = (array: FloatArray): number => {
    if (!(array instanceof Float32Array) || array.buffer !== buffer) {
      throw new Error('wasm backend: array was not allocated by this backend');
    }
    return array.byteOffset;
  };

  return {
    name: 'wasm-simd',
    alloc(length: number): Float32Array {
      const start = top;
      const end = start + arenaBytes([length]);
      if (end > ALIGN_BYTES + capacityBytes) {
        throw new Error(`wasm backend: arena of ${capacityBytes} bytes exhausted (asked for ${length} more floats)`);
      }
      top = end;
      return new Float32Array(buffer, start, length);
    },
    gemm(m, n, k, a, aRow, aCol, b, ldb, c, ldc) {
      if (m === 0 || n === 0) return;
      if (k === 0) {
        for (let i = 0; i < m; i++) c.fill(0, i * ldc, i * ldc + n);
        return;
      }
      kernels.gemm(pointer(a), aRow * 4, aCol * 4, pointer(b), ldb * 4, pointer(c), ldc * 4, m, n, k);
    },
    adamw(value, grad, expAvg, expAvgSq, coefficients: AdamWCoefficients) {
      const vectorised = value.length - (value.length % 4);
      const { decay, stepSize, beta1, beta2, denomScale, eps } = coefficients;
      if (vectorised > 0) {
        kernels.adamw(pointer(value), pointer(grad), pointer(expAvg), pointer(expAvgSq), vectorised, decay, stepSize, beta1, beta2, denomScale, eps);
      }
      if (vectorised < value.length) {
        const tail = (x: FloatArray): FloatArray => x.subarray(vectorised);
        adamwUpdate(tail(value), tail(grad), tail(expAvg), tail(expAvgSq), coefficients);
      }
    },
  };
}
