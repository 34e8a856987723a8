/**
 * The float32 EM pass as a native addon (native/: C++ with AVX-512, AVX2 + FMA and baseline paths,
 * built by node-gyp when the package is installed): the same sums as em-wasm32.ts (see
 * em-float32.ts), 8 or 16 pixels per instruction with fused multiply-adds where WebAssembly has 4
 * and none. The addon is optional: where it was not built or does not load, nativeEmStatus() says
 * why and em-trace.ts uses the WebAssembly pass.
 *
 * Environment: LENSEMBLE_EM_NATIVE_ISA (avx512, avx2, generic) forces an instruction set the addon
 * offers on this processor; LENSEMBLE_EM_NATIVE_ADDON loads the addon from another path.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { LensembleError } from '../util/errors.js';
import type { ChannelView, PixelGrid, ValueRange } from './em-channel.js';
import {
  float32AccumulatorCount,
  float32Declines,
  float32EStepConstants,
  sumsFromFloat32Totals,
  writeFloat32Kernel,
  type Float32PassFunction,
} from './em-float32.js';

/** An instruction set the addon offers on this processor. */
export interface NativeIsa {
  name: string;
  /** float32 lanes per vector. */
  lanes: number;
}

type NativePass = (
  n: number,
  pixels: Float32Array,
  stride: number,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  kernel: Float32Array,
  log2eOver2Var: number,
  density: number,
  p0: number,
  work: Uint8Array,
  totals: Float64Array,
) => void;

/** native/em_addon.cc's exports. */
interface EmAddon {
  /** Supported here, best first. */
  isas(): NativeIsa[];
  workBytes(isa: string, n: number): number;
  passFor(isa: string): NativePass;
  /** Returns min + 256·max of the values copied. */
  copyChannel(data: Uint8Array, offset: number, step: number, count: number, out: Float32Array): number;
  /** Floats that must follow a channel (a row's last vector reads past it). */
  padFloats: number;
}

export type NativeEmStatus =
  | { loaded: true; path: string; isas: NativeIsa[] }
  | { loaded: false; path: string; reason: string };

const defaultAddonPath = fileURLToPath(new URL('../../native/build/Release/lensemble_em.node', import.meta.url));

let addon: EmAddon | undefined;
let status: NativeEmStatus | undefined;

/** Loads the addon on first use (in each thread: a worker has its own module instance). */
export function nativeEmStatus(): NativeEmStatus {
  if (status) return status;
  const path = process.env.LENSEMBLE_EM_NATIVE_ADDON || defaultAddonPath;
  try {
    const loadedAddon = createRequire(import.meta.url)(path) as EmAddon;
    const isas = loadedAddon.isas();
    if (!Array.isArray(isas) || isas.length === 0) throw new Error('the addon offers no instruction set');
    addon = loadedAddon;
    status = { loaded: true, path, isas };
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    status = { loaded: false, path, reason };
    if (process.env.LENSEMBLE_DEBUG) {
      process.stderr.write(`lensemble: native EM kernel not loaded (${reason}); EM traces use the WebAssembly pass\n`);
    }
  }
  return status;
}

/** The instruction set a native pass bound now would use: LENSEMBLE_EM_NATIVE_ISA's, else the best offered. */
export function nativeEmIsa(): NativeIsa {
  const s = nativeEmStatus();
  if (!s.loaded) throw new LensembleError(`EM trace: the native EM kernel is not available (${s.reason}; looked for ${s.path})`);
  const forced = process.env.LENSEMBLE_EM_NATIVE_ISA;
  if (!forced) return s.isas[0];
  const isa = s.isas.find((i) => i.name === forced);
  if (!isa) {
    throw new LensembleError(
      `LENSEMBLE_EM_NATIVE_ISA=${forced}: the native EM kernel offers ${s.isas.map((i) => i.name).join(', ')} on this processor`,
    );
  }
  return isa;
}

/** Per-thread buffers, reused by each channel bound after the last; `generation` tells a stale pass. */
const buffers = { pixels: new Float32Array(0), work: new Uint8Array(0), generation: 0 };
const passes = new Map<string, NativePass>();

/**
 * Copies an 8-bit channel to float32 and returns its native pass. The buffers are reused by the next
 * channel bound in this thread: a pass bound earlier then throws rather than read another channel.
 */
export function bindNativePass(channel: ChannelView, grid: PixelGrid, n: number): { pass: Float32PassFunction; range: ValueRange } {
  if (!(channel.data instanceof Uint8Array)) throw new Error('the native float32 EM pass takes 8-bit channels only');
  const isa = nativeEmIsa();
  const native = addon!;
  let nativePass = passes.get(isa.name);
  if (!nativePass) passes.set(isa.name, (nativePass = native.passFor(isa.name)));
  const m = n * n - 1;
  const count = grid.width * grid.height;
  if (buffers.pixels.length < count + native.padFloats) buffers.pixels = new Float32Array(count + native.padFloats);
  const workBytes = native.workBytes(isa.name, n);
  if (buffers.work.length < workBytes) buffers.work = new Uint8Array(workBytes);
  const { pixels, work } = buffers;
  const generation = ++buffers.generation;
  const packed = native.copyChannel(channel.data, channel.offset, channel.step, count, pixels);
  const range = { min: packed & 255, max: packed >> 8 };
  const kernel32 = new Float32Array(m + 1);
  const totals = new Float64Array(float32AccumulatorCount(m));
  const pass: Float32PassFunction = (kernel, params, sums) => {
    if (float32Declines(params)) return false;
    if (generation !== buffers.generation) throw new Error('native EM pass used after another channel was bound in this thread');
    writeFloat32Kernel(kernel, kernel32);
    const { log2eOver2Var, density } = float32EStepConstants(params.sigma);
    nativePass(n, pixels, grid.width, grid.x0, grid.x1, grid.y0, grid.y1, kernel32, log2eOver2Var, density, params.p0, work, totals);
    return sumsFromFloat32Totals((q) => totals[q], m, sums);
  };
  return { pass, range };
}
