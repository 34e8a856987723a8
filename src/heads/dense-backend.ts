import { type FloatArray, gemm } from './dense-math.js';
import { arenaBytes, createWasmBackend } from './dense-wasm.js';
import { type AdamWKernel, adamwUpdate } from './optim.js';

/**
 * Where a network's arrays live and which kernels run on them. Every array passed to `gemm` or
 * `adamw` must come from the same backend's `alloc` (the wasm backend reads them by address).
 */
export interface DenseBackend {
  readonly name: BackendName;
  /** A zero-filled array of `length` floats. */
  alloc(length: number): FloatArray;
  /** See `gemm` in dense-math.ts: C = A(strided) · B, C overwritten. */
  gemm(
    m: number, n: number, k: number,
    a: FloatArray, aRow: number, aCol: number,
    b: FloatArray, ldb: number,
    c: FloatArray, ldc: number,
  ): void;
  adamw: AdamWKernel;
}

export type BackendName = 'wasm-simd' | 'js-f32' | 'js-f64';

/** Plain JavaScript over Float32Array, or Float64Array for gradient checks. */
export function createJsBackend(precision: 'f32' | 'f64' = 'f32'): DenseBackend {
  return {
    name: precision === 'f64' ? 'js-f64' : 'js-f32',
    alloc: (length: number): FloatArray => (precision === 'f64' ? new Float64Array(length) : new Float32Array(length)),
    gemm,
    adamw: adamwUpdate,
  };
}

/**
 * The fastest backend this runtime offers ('auto'), or the one asked for, able to allocate arrays
 * of the given lengths (the wasm backend's memory is sized once, up front).
 */
export function createBackend(name: BackendName | 'auto', lengths: number[]): DenseBackend {
  if (name === 'js-f32') return createJsBackend('f32');
  if (name === 'js-f64') return createJsBackend('f64');
  const wasm = createWasmBackend(arenaBytes(lengths));
  if (wasm) return wasm;
  if (name === 'wasm-simd') throw new Error('WebAssembly SIMD is not available in this runtime');
  return createJsBackend('f32');
}
