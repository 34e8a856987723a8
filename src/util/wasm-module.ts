/**
 * Just enough of the WebAssembly binary format (core spec §5 + SIMD opcodes) to assemble the
 * project's SIMD kernels (heads/dense-wasm.ts, forensics/em-wasm.ts) at load time, so no toolchain
 * or committed .wasm blob is needed. Instructions are plain byte arrays; nested arrays are
 * flattened on assembly. Also the slice of the WebAssembly JS API those kernels run on.
 */

export type Code = number | Code[];

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

export function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** The little-endian bytes of `values` (float immediates and v128 constants). */
function bytesOf(values: Float32Array | Float64Array | BigInt64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

export const f64x2Bytes = (lane0: number, lane1: number): Uint8Array => bytesOf(new Float64Array([lane0, lane1]));
export const i64x2Bytes = (lane0: bigint, lane1: bigint): Uint8Array => bytesOf(new BigInt64Array([lane0, lane1]));

function flatten(code: Code, out: number[] = []): number[] {
  if (Array.isArray(code)) for (const part of code) flatten(part, out);
  else out.push(code);
  return out;
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

const simd = (opcode: number, ...immediates: number[]): number[] => [0xfd, ...uleb(opcode), ...immediates];
/** memarg: log2 alignment, then byte offset. */
const memarg = (alignLog2: number, offset: number): number[] => [alignLog2, ...uleb(offset)];

/** The instructions the kernels use, by their text-format names. Loads and stores default to natural alignment. */
export const op = {
  block: (body: Code): Code => [0x02, 0x40, body, 0x0b],
  loop: (body: Code): Code => [0x03, 0x40, body, 0x0b],
  if: (body: Code): Code => [0x04, 0x40, body, 0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  localGet: (index: number): number[] => [0x20, ...uleb(index)],
  localSet: (index: number): number[] => [0x21, ...uleb(index)],
  localTee: (index: number): number[] => [0x22, ...uleb(index)],
  i32Const: (value: number): number[] => [0x41, ...sleb(value)],
  i32Eqz: [0x45],
  i32GtS: [0x4a],
  i32LeS: [0x4c],
  i32GeS: [0x4e],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  i32Load: (offset = 0): number[] => [0x28, ...memarg(2, offset)],
  i32Store: (offset = 0, alignLog2 = 2): number[] => [0x36, ...memarg(alignLog2, offset)],
  f32Load: (offset = 0): number[] => [0x2a, ...memarg(2, offset)],
  f32Store: (offset = 0): number[] => [0x38, ...memarg(2, offset)],
  f32Const: (value: number): number[] => [0x43, ...bytesOf(new Float32Array([value]))],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  v128Load: (offset = 0, alignLog2 = 4): number[] => simd(0x00, ...memarg(alignLog2, offset)),
  v128Store: (offset = 0, alignLog2 = 4): number[] => simd(0x0b, ...memarg(alignLog2, offset)),
  v128Load32Splat: (offset = 0): number[] => simd(0x09, ...memarg(2, offset)),
  v128Load64Splat: (offset = 0): number[] => simd(0x0a, ...memarg(3, offset)),
  v128Const: (bytes: Uint8Array): number[] => simd(0x0c, ...bytes),
  v128And: simd(0x4e),
  i8x16NarrowI16x8U: simd(0x66),
  i16x8NarrowI32x4S: simd(0x85),
  i16x8ExtendLowI8x16U: simd(0x89),
  i16x8ExtendHighI8x16U: simd(0x8a),
  i32x4ExtendLowI16x8U: simd(0xa9),
  i32x4ExtendHighI16x8U: simd(0xaa),
  i32x4ExtractLane: (lane: number): number[] => simd(0x1b, lane),
  i32x4TruncSatF32x4S: simd(0xf8),
  f32x4ConvertI32x4U: simd(0xfb),
  f32x4Nearest: simd(0x6a),
  f32x4Splat: simd(0x13),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f64x2Splat: simd(0x14),
  f64x2Ge: simd(0x4c),
  i64x2Shl: simd(0xcb),
  i64x2Add: simd(0xce),
  f64x2Add: simd(0xf0),
  f64x2Sub: simd(0xf1),
  f64x2Mul: simd(0xf2),
  f64x2Div: simd(0xf3),
  f64x2Pmax: simd(0xf7),
};

export interface FunctionSpec {
  /** Exported under this name. */
  name: string;
  /** No results. */
  params: ValueType[];
  /** Extra locals as [count, type] groups, numbered after the params. */
  locals: [count: number, type: ValueType][];
  body: Code;
}

/**
 * A module importing `env.memory` (at least one page, at most `maxPages` where given) and
 * exporting `functions`; instantiate it with `instantiate`.
 */
export function encodeModule(functions: FunctionSpec[], memory: { maxPages?: number } = {}): Uint8Array {
  const types = functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params, 0]);
  const limits = memory.maxPages === undefined ? [0x00, 1] : [0x01, 1, ...uleb(memory.maxPages)];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, ...limits];
  const exports = functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const bodies = functions.map((f) => {
    const locals = f.locals.map(([count, type]) => [...uleb(count), type]);
    const bytes = [...vector(locals), ...flatten(f.body), 0x0b];
    return [...uleb(bytes.length), ...bytes];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}

/** The slice of the WebAssembly JS API used (this project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Instance: new (module: object, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
/** Undefined where the runtime has no WebAssembly. */
export const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Instantiates a module from `encodeModule` on `memory`; returns its exports (the caller knows their type). */
export function instantiate(module: object, memory: WasmMemory): unknown {
  if (!wasmApi) throw new Error('WebAssembly is not available');
  return new wasmApi.Instance(module, { env: { memory } }).exports;
}

let simdSupported: boolean | undefined;

/** Whether this runtime validates WebAssembly SIMD (Node 16.4+ does). */
export function wasmSimdAvailable(): boolean {
  if (simdSupported === undefined) {
    const probe: FunctionSpec = { name: 'probe', params: [], locals: [[1, V128]], body: [op.localGet(0), op.f32x4Sqrt, op.localSet(0)] };
    try {
      simdSupported = Boolean(wasmApi?.validate(encodeModule([probe])));
    } catch {
      simdSupported = false;
    }
  }
  return simdSupported;
}

export const PAGE_BYTES = 65536;
/** wasm32's 4 GiB. */
export const MAX_PAGES = 65536;

/** Pages of wasm memory that hold `bytes` bytes. */
export const pagesFor = (bytes: number): number => Math.ceil(bytes / PAGE_BYTES);

/** `value` rounded up to a multiple of `alignment`. */
export const alignUp = (value: number, alignment: number): number => Math.ceil(value / alignment) * alignment;
