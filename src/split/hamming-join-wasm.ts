/**
 * The inner loop of hamming-join.ts as WebAssembly (one i64.popcnt per code pair, ~5× the
 * TypeScript loop): for each XOR mask and each occupied left bucket, every left code of the bucket
 * against every right code of the bucket `key ^ mask`, writing the pairs within the radius to an output
 * buffer as (left owner, right owner, distance). When the buffer could overflow it saves where it was
 * (mask, occupied bucket, left code) in `state` and returns; the caller drains the buffer and calls again.
 */
import { type Code, encodeModule, type FunctionSpec, I32, instantiate, op, wasmApi, type WasmMemory } from '../util/wasm-module.js';

// Opcodes wasm-module.ts does not list (core spec §5.4).
const i64Load = (offset = 0): number[] => [0x29, 3, offset];
const i64Xor = [0x85];
const i64Popcnt = [0x7b];
const i32WrapI64 = [0xa7];
const i32Xor = [0x73];
const i32Ne = [0x47];
const select = [0x1b];
const returnOp = [0x0f];

/** join(...PARAMS): byte addresses into memory, counts, and the radius; see joinKernel. */
export const PARAMS = ['lStart', 'lWords', 'lOwner', 'occupied', 'occupiedCount', 'rStart', 'rWords', 'rOwner', 'masks', 'maskCount', 'radius', 'ascending', 'out', 'capacity', 'state'] as const;
const P = Object.fromEntries(PARAMS.map((name, i) => [name, i])) as Record<(typeof PARAMS)[number], number>;

/** state: [mask index, occupied index, left code (−1: start of bucket), pairs written]. */
export const STATE_INTS = 4;
/** Each pair out: left owner, right owner, distance. */
export const PAIR_INTS = 3;

function emitJoin(): FunctionSpec {
  const get = op.localGet;
  const set = op.localSet;
  let next = PARAMS.length;
  const [m, o, x, key, other, r0, r1, l1, y, above, count, mask, d, resume, xOwner, rOwner, at] = Array.from({ length: 17 }, () => next++);
  const int32At = (base: number, index: Code, offset = 0): Code => [get(base), index, op.i32Const(2), op.i32Shl, op.i32Add, op.i32Load(offset)];
  const codeAt = (base: number, index: number): Code => [get(base), get(index), op.i32Const(3), op.i32Shl, op.i32Add, i64Load()];
  const increment = (local: number): Code => [get(local), op.i32Const(1), op.i32Add, set(local)];
  /** `while (!(exit)) body`. */
  const until = (exit: Code, body: Code): Code => op.block(op.loop([exit, op.brIf(1), body, op.br(0)]));
  const saveState = (mv: Code, ov: Code, xv: Code): Code => [
    get(P.state), mv, op.i32Store(0),
    get(P.state), ov, op.i32Store(4),
    get(P.state), xv, op.i32Store(8),
    get(P.state), get(count), op.i32Store(12),
  ];
  const emitPair: Code = [
    get(P.out), get(count), op.i32Const(PAIR_INTS * 4), op.i32Mul, op.i32Add, set(at),
    get(at), get(xOwner), op.i32Store(0),
    get(at), get(rOwner), op.i32Store(4),
    get(at), get(d), op.i32Store(8),
    increment(count),
  ];
  const rightLoop: Code = [
    get(r0), set(y),
    until([get(y), get(r1), op.i32GeS], [
      codeAt(P.lWords, x), codeAt(P.rWords, y), i64Xor, i64Popcnt, i32WrapI64, set(d),
      get(d), get(P.radius), op.i32LeS,
      op.if([int32At(P.rOwner, get(y)), set(rOwner), get(rOwner), get(above), op.i32GtS, op.if(emitPair)]),
      increment(y),
    ]),
  ];
  const leftLoop: Code = until([get(x), get(l1), op.i32GeS], [
    // Room for a whole right bucket, or save and return.
    get(count), get(r1), get(r0), op.i32Sub, op.i32Add, get(P.capacity), op.i32GtS,
    op.if([saveState(get(m), get(o), get(x)), returnOp]),
    int32At(P.lOwner, get(x)), set(xOwner),
    get(xOwner), op.i32Const(-1), get(P.ascending), select, set(above),
    rightLoop,
    increment(x),
  ]);
  const bucketLoop: Code = until([get(o), get(P.occupiedCount), op.i32GeS], [
    int32At(P.occupied, get(o)), set(key),
    get(key), get(mask), i32Xor, set(other),
    int32At(P.rStart, get(other)), set(r0),
    int32At(P.rStart, get(other), 4), set(r1),
    get(r0), get(r1), i32Ne,
    op.if([
      int32At(P.lStart, get(key), 4), set(l1),
      get(resume), op.i32Eqz, op.if([int32At(P.lStart, get(key)), set(x)]),
      op.i32Const(0), set(resume),
      leftLoop,
    ]),
    increment(o),
  ]);
  const body: Code = [
    get(P.state), op.i32Load(0), set(m),
    get(P.state), op.i32Load(4), set(o),
    get(P.state), op.i32Load(8), set(x),
    get(x), op.i32Const(0), op.i32GeS, set(resume),
    op.i32Const(0), set(count),
    until([get(m), get(P.maskCount), op.i32GeS], [
      int32At(P.masks, get(m)), set(mask),
      bucketLoop,
      op.i32Const(0), set(o),
      increment(m),
    ]),
    saveState(get(P.maskCount), op.i32Const(0), op.i32Const(-1)),
  ];
  return { name: 'join', params: new Array(PARAMS.length).fill(I32), locals: [[next - PARAMS.length, I32]], body };
}

let compiled: object | undefined;

export type JoinKernel = (...args: number[]) => void;

/** The kernel on `memory`, or undefined where the runtime has no WebAssembly. */
export function joinKernel(memory: WasmMemory): JoinKernel | undefined {
  if (!wasmApi) return undefined;
  compiled ??= new wasmApi.Module(encodeModule([emitJoin()]));
  return (instantiate(compiled, memory) as { join: JoinKernel }).join;
}
